//===- ChecksTest.cpp - Policy names and input checks ---------------------===//

#include "EplbTestSupport.h"

#include <limits>

using namespace pipeweave::eplb;
using namespace pipeweave::eplb::pwtest;

namespace {

TEST(EplbPolicy, ParsesNamesAndCombinations) {
  std::string error;
  std::optional<PolicyOptions> reference = parsePolicy("reference", error);
  ASSERT_TRUE(reference);
  EXPECT_EQ(reference->strategy, Strategy::Auto);
  EXPECT_FALSE(reference->refine || reference->noColocatedReplicas ||
               reference->minMigration);

  std::optional<PolicyOptions> combined =
      parsePolicy("global, refine,no-colocated-replicas,min-migration", error);
  ASSERT_TRUE(combined) << error;
  EXPECT_EQ(combined->strategy, Strategy::Global);
  EXPECT_TRUE(combined->refine && combined->noColocatedReplicas &&
              combined->minMigration);
  EXPECT_EQ(formatPolicy(*combined),
            "global,refine,no-colocated-replicas,min-migration");

  // An option alone keeps the reference's choice of strategy.
  std::optional<PolicyOptions> refine = parsePolicy("refine", error);
  ASSERT_TRUE(refine);
  EXPECT_EQ(refine->strategy, Strategy::Auto);
  EXPECT_EQ(formatPolicy(*refine), "reference,refine");
  EXPECT_EQ(parsePolicy(formatPolicy(*refine), error)->refine, true);
}

TEST(EplbPolicy, RejectsUnknownAndRepeatedNames) {
  std::string error;
  EXPECT_FALSE(parsePolicy("greedy", error));
  EXPECT_EQ(error, "unknown policy 'greedy'; expected a comma-separated list "
                   "of: reference, hierarchical, global, refine, "
                   "no-colocated-replicas, min-migration");
  EXPECT_FALSE(parsePolicy("", error));
  EXPECT_FALSE(parsePolicy("hierarchical,global", error));
  EXPECT_EQ(error, "give at most one of reference, hierarchical and global");
  EXPECT_FALSE(parsePolicy("refine,refine", error));
  EXPECT_EQ(error, "policy 'refine' is given twice");
}

/// The error for `problem` under `policyText`, or "" when it passes.
std::string errorOf(const EplbProblem &problem,
                    const char *policyText = "reference") {
  std::optional<InputError> error =
      checkProblem(problem, policy(policyText), kReferenceFieldNames);
  return error ? error->field + ": " + error->message : "";
}

EplbProblem readmeShape() {
  // The README's shape: 12 experts, 16 slots, 4 groups, 2 nodes, 8 GPUs.
  EplbProblem problem;
  problem.numLayers = 1;
  problem.numExperts = 12;
  problem.loads.assign(12, 1.0);
  problem.numReplicas = 16;
  problem.numGroups = 4;
  problem.numNodes = 2;
  problem.numGpus = 8;
  return problem;
}

TEST(EplbChecks, TheReferenceDivisibilityRules) {
  EXPECT_EQ(errorOf(readmeShape()), "");

  EplbProblem problem = readmeShape();
  problem.numReplicas = 20;
  EXPECT_EQ(errorOf(problem),
            "num_replicas: num_replicas (20) must be a multiple of num_gpus "
            "(8)");
  problem.numReplicas = 8;
  EXPECT_EQ(errorOf(problem), "num_replicas: num_replicas (8) must be at "
                              "least the number of experts (12)");

  problem = readmeShape();
  problem.numGroups = 8; // 12 experts do not split into 8 groups
  EXPECT_EQ(errorOf(problem),
            "num_groups: num_groups (8) must divide the number of experts "
            "(12)");

  // 6 GPUs on 2 nodes are fine, on 4 nodes they are not.
  problem = readmeShape();
  problem.numGpus = 6;
  problem.numReplicas = 18;
  EXPECT_EQ(errorOf(problem), "");
  problem.numNodes = 4;
  EXPECT_EQ(errorOf(problem),
            "num_gpus: num_gpus (6) must be a multiple of num_nodes (4)");
}

TEST(EplbChecks, GroupsNotDivisibleByNodesMeansGlobal) {
  // As in the reference: 3 groups on 2 nodes is no error, it selects the
  // global policy, which ignores groups and nodes (so 12 % 5 groups and
  // 8 % 3 nodes do not matter either).
  EplbProblem problem = readmeShape();
  problem.numGroups = 3;
  EXPECT_EQ(errorOf(problem), "");
  EXPECT_FALSE(usesHierarchical(problem, Strategy::Auto));
  problem.numGroups = 5;
  problem.numNodes = 3;
  EXPECT_EQ(errorOf(problem), "");
  // Forcing the hierarchical policy brings the rules back.
  EXPECT_EQ(errorOf(problem, "hierarchical"),
            "num_groups: num_groups (5) must be a multiple of num_nodes (3) "
            "for the hierarchical policy");
}

TEST(EplbChecks, SizesArePositive) {
  EplbProblem problem = readmeShape();
  problem.numNodes = 0;
  EXPECT_EQ(errorOf(problem),
            "num_nodes: num_nodes: the number of nodes must be at least 1 "
            "(got 0)");
  problem = readmeShape();
  problem.numGpus = -8;
  EXPECT_EQ(errorOf(problem),
            "num_gpus: num_gpus: the number of gpus must be at least 1 (got "
            "-8)");
  problem = readmeShape();
  problem.numLayers = 0;
  problem.loads.clear();
  EXPECT_EQ(errorOf(problem),
            "weight: weight: the number of layers must be at least 1 (got 0)");
}

TEST(EplbChecks, Loads) {
  EplbProblem problem = readmeShape();
  problem.loads[5] = -1;
  EXPECT_EQ(errorOf(problem), "weight: weight[0][5] must be a finite, "
                              "non-negative load (got -1)");
  problem.loads[5] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(errorOf(problem), "weight: weight[0][5] must be a finite, "
                              "non-negative load (got nan)");
  problem.loads[5] = std::numeric_limits<double>::infinity();
  EXPECT_NE(errorOf(problem), "");
  // Finite in double but not in float32, where the reference computes.
  problem.loads[5] = 1e39;
  EXPECT_NE(errorOf(problem), "");
  problem.loads[5] = 0; // idle experts are fine
  EXPECT_EQ(errorOf(problem), "");
  problem.loads.pop_back();
  EXPECT_EQ(errorOf(problem),
            "weight: weight has 11 values; expected 1 layers x 12 experts");
}

TEST(EplbChecks, NoColocationNeedsEnoughExpertsPerGpu) {
  // 4 experts, 2 GPUs with 3 slots each: fine. With 6 slots each, some
  // GPU would hold two replicas of one expert.
  EplbProblem problem = makeProblem({{1, 2, 3, 4}}, 6, 1, 1, 2);
  EXPECT_EQ(errorOf(problem, "no-colocated-replicas"), "");
  problem.numReplicas = 12;
  EXPECT_EQ(errorOf(problem, "reference"), "");
  EXPECT_EQ(errorOf(problem, "no-colocated-replicas"),
            "num_replicas: num_replicas (12) puts 6 slots on each GPU, but "
            "no-colocated-replicas can fill at most 4 without two replicas "
            "of one expert on a GPU");
}

TEST(EplbChecks, PreviousPlacement) {
  EplbProblem problem = makeProblem({{6, 3, 2}}, 4, 3, 2, 2);
  std::vector<int64_t> previous = {0, 1, 2, 0};
  EXPECT_FALSE(checkPreviousPhy2Log(problem, previous, "previous"));
  previous.push_back(1);
  EXPECT_EQ(checkPreviousPhy2Log(problem, previous, "previous")->message,
            "previous has 5 entries; expected 1 layers x 4 slots");
  previous = {0, 1, 3, 0};
  EXPECT_EQ(checkPreviousPhy2Log(problem, previous, "previous")->message,
            "previous[0][2] must be an expert in [0, 3) (got 3)");
}

} // namespace
