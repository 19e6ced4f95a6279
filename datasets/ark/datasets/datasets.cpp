// libark_datasets's anchor translation unit (the library's sources are globbed beside it).
namespace ark::datasets {
const char* library_name() { return "ark_datasets"; }
}  // namespace ark::datasets
