// Placeholder until the family lands: registers nothing.
namespace ark::models {
void register_mobilenet_models() {}
}  // namespace ark::models
