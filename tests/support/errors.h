// The message of the ark::Error a statement throws, for tests of bad input.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "ark/core/error.h"

namespace ark::test {

/// What `fn` throws as ark::Error; "" and a test failure if it throws nothing.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an ark::Error";
  return "";
}

}  // namespace ark::test
