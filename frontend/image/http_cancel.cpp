#include "frontend/image/http_cancel.h"

#include <sys/socket.h>

#include "frontend/image/http.h"

namespace grootfs::frontend::image::http {
namespace {

thread_local Cancellation* t_cancellation = nullptr;

}  // namespace

void Cancellation::Cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  // The fd is open: its wait unregisters it (under mutex_) before the connection can close it.
  if (fd_ >= 0) (void)shutdown(fd_, SHUT_RDWR);
}

bool Cancellation::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

CancelScope::CancelScope(Cancellation& cancellation) : previous_(t_cancellation) {
  t_cancellation = &cancellation;
}
CancelScope::~CancelScope() { t_cancellation = previous_; }

CancellableWait::CancellableWait(int fd, const std::string& where) : cancellation_(t_cancellation) {
  if (cancellation_ == nullptr) return;
  std::lock_guard lock(cancellation_->mutex_);
  if (cancellation_->cancelled_) {
    throw TransferError(where, "the transfer was cancelled", TransferError::Kind::kOther);
  }
  previous_ = cancellation_->fd_;
  cancellation_->fd_ = fd;
}

CancellableWait::~CancellableWait() {
  if (cancellation_ == nullptr) return;
  std::lock_guard lock(cancellation_->mutex_);
  cancellation_->fd_ = previous_;
}

}  // namespace grootfs::frontend::image::http
