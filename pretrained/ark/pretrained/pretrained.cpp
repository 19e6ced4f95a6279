// libark_pretrained's anchor translation unit (the library's sources are globbed beside it).
namespace ark::pretrained {
const char* library_name() { return "ark_pretrained"; }
}  // namespace ark::pretrained
