// Runs in: both binaries. Trusts: nothing; a value or an errno with a short text.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace grootfs::ipc {

struct Error {
  int code = EINVAL;  // an errno value
  std::string text;   // short, for a user: what failed

  static Error FromErrno(std::string what) { return Error{errno, std::move(what)}; }
};

// A value or an Error. C++20 has no std::expected; this is the small subset we use.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  explicit operator bool() const { return v_.index() == 0; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace grootfs::ipc
