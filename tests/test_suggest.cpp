#include <gtest/gtest.h>

#include <trainyard/suggest.h>

TEST(Suggest, EditDistanceCountsTranspositionsAsOne) {
  EXPECT_EQ(trainyard::edit_distance("lr", "lr"), 0u);
  EXPECT_EQ(trainyard::edit_distance("lr", "rl"), 1u);
  EXPECT_EQ(trainyard::edit_distance("epochs", "epoch"), 1u);
  EXPECT_EQ(trainyard::edit_distance("", "abc"), 3u);
}

TEST(Suggest, NearestNameOnlyForPlausibleTypos) {
  const std::vector<std::string> known{"lr", "beta1", "beta2", "weight_decay"};
  EXPECT_EQ(trainyard::nearest_name("wieght_decay", known), "weight_decay");
  EXPECT_EQ(trainyard::nearest_name("beta3", known), "beta1");
  EXPECT_EQ(trainyard::nearest_name("momentum", known), std::nullopt);
  EXPECT_EQ(trainyard::nearest_name("x", {}), std::nullopt);
}
