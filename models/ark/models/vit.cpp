// Placeholder until the family lands: registers nothing.
namespace ark::models {
void register_vit_models() {}
}  // namespace ark::models
