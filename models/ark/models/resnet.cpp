// Placeholder until the family lands: registers nothing.
namespace ark::models {
void register_resnet_models() {}
}  // namespace ark::models
