// The service's YAML config: any text loads or is refused with a ConfigError (exit code 2 naming the
// key); no other exception, and no crash.
#include <cstdint>
#include <string>

#include "cshealthd/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)cshealthd::config::load_text(text, "fuzz.yaml", {});
  } catch (const cshealthd::config::ConfigError&) {
  }
  return 0;
}
