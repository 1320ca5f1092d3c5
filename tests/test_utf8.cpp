// Text made valid UTF-8 before it reaches the results database (PostgreSQL refuses anything else)
// or JSON output.
#include <gtest/gtest.h>

#include "trainyard/system/utf8.h"

using trainyard::utf8_tail;
using trainyard::valid_utf8;

TEST(Utf8, ValidTextIsKeptAndInvalidBytesBecomeReplacementCharacters) {
  const std::string mixed = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // café € 😀
  EXPECT_EQ(valid_utf8(mixed), mixed);
  EXPECT_EQ(valid_utf8("a\xFF"
                       "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // an overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(valid_utf8("x\xE2\x82"), "x\xEF\xBF\xBD\xEF\xBF\xBD");                // cut short at the end
}

// Issue 16: a trial's log tail was cut at a byte count, often inside a character, and the run's
// error then broke PostgreSQL (invalid byte sequence) and the JSON output.
TEST(Utf8, ATailStartsAtACharacterBoundary) {
  const std::string log = "error: \xC3\xA9\xC3\xA9\xE2\x82\xAC";  // "error: éé€"
  // The last 4 bytes start inside the second é: the tail starts at the €.
  EXPECT_EQ(utf8_tail(log, 4), "\xE2\x82\xAC");
  EXPECT_EQ(utf8_tail(log, 5), "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(utf8_tail(log, 100), log);
  EXPECT_EQ(utf8_tail("", 3), "");
}
