// The JSON configs a checkpoint carries (model, training, SD-VAE), as written by fluxion or edited
// by hand.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_input.h"
#include "models/vae_config.h"
#include "models/zoo.h"
#include "train/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fluxion;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] { models::config_from_json(text); });
  fuzz::expect_clean([&] { models::vae_config_from_json(text); });
  fuzz::expect_clean([&] {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      return;  // not JSON: the caller reports it (train_config_from_json takes parsed JSON)
    }
    train::train_config_from_json(j).validate();
  });
  return 0;
}
