//===- DeepSeekProfileTest.cpp - The spec's costs come from the profile ---===//
//
// examples/moe/deepseek_like.mlir says how its per-layer costs were read
// from DeepSeek's training profile. When the profile is present
// (../shared/data/deepseek_v3_train_profile.json, not part of the
// repository), this test repeats that derivation with the trace analysis
// behind pw-prof and compares it with the numbers in the spec; when it is
// absent, the test says so and is skipped.
//
//===----------------------------------------------------------------------===//

#include "passes/Profile/Analysis.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

using namespace pipeweave::profile;

namespace {

/// "attn.forward" -> 4369.75: every `NAME ... field = number` of the spec's
/// components.
std::map<std::string, double> specCosts() {
  std::ifstream file(PW_DEEPSEEK_SPEC);
  std::ostringstream stream;
  stream << file.rdbuf();
  std::string text = stream.str();
  std::map<std::string, double> costs;
  std::regex head(R"re(pipe\.component "(\w+)")re");
  std::regex field(R"((\w+) = ([0-9.]+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), head);
       it != std::sregex_iterator(); ++it) {
    std::string rest = it->suffix();
    rest =
        rest.substr(0, std::min(rest.find("pipe.component"), rest.find('}')));
    for (auto f = std::sregex_iterator(rest.begin(), rest.end(), field);
         f != std::sregex_iterator(); ++f)
      costs[std::string((*it)[1]) + "." + std::string((*f)[1])] =
          std::stod((*f)[2]);
  }
  return costs;
}

TEST(DeepSeekProfile, SpecCostsAreTheProfilesPerLayerGpuTimes) {
  std::string path = PW_DEEPSEEK_PROFILE;
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << "DeepSeek's profile is absent (" << path
                 << "); the costs of examples/moe/deepseek_like.mlir are not "
                    "re-derived";
  Trace trace;
  std::optional<TraceError> error = parseTraceFile(path, trace);
  ASSERT_FALSE(error) << error->message;
  AnalysisOptions options;
  options.isCommunication = [](std::string_view) { return false; };
  Profile profile = analyseTrace(trace, options);

  // GPU time per annotation, summed over streams; the unattributed compute
  // is attention's backward, launched from autograd's thread.
  std::map<std::string, Nanoseconds> gpuTime;
  for (const AttributionRow &row : profile.attribution.rows)
    gpuTime[row.annotation ? trace.strings[*row.annotation]
                           : "(unattributed)"] += row.gpuTime;
  auto perLayer = [&](const std::string &name) {
    return static_cast<double>(gpuTime[name]) / 4 / 1000; // us per layer
  };
  std::map<std::string, double> spec = specCosts();
  EXPECT_DOUBLE_EQ(spec["attn.forward"], perLayer("attn(F)"));
  EXPECT_DOUBLE_EQ(spec["attn.backward_input"], perLayer("(unattributed)"));
  EXPECT_DOUBLE_EQ(spec["attn.backward_weight"], perLayer("attn(W)"));
  EXPECT_DOUBLE_EQ(spec["mlp.forward"], perLayer("mlp(F)"));
  EXPECT_DOUBLE_EQ(spec["mlp.backward_input"], perLayer("mlp(B)"));
  EXPECT_DOUBLE_EQ(spec["mlp.backward_weight"], perLayer("mlp(W)"));
  EXPECT_DOUBLE_EQ(spec["dispatch.forward"], perLayer("dispatch(F)"));
  EXPECT_DOUBLE_EQ(spec["dispatch.backward"], perLayer("dispatch(B)"));
  EXPECT_DOUBLE_EQ(spec["combine.forward"], perLayer("combine(F)"));
  EXPECT_DOUBLE_EQ(spec["combine.backward"], perLayer("combine(B)"));
}

} // namespace
