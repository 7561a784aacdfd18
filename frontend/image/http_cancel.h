// Ending, from another thread, the HTTP transfers one thread makes (a blob prefetch abandoned
// while its request waits on a slow registry). The thread runs its transfers inside a
// CancelScope; every connection wait it then makes (connect, TLS handshake, send, receive)
// registers its socket, so that Cancel can shut that socket down (shutdown(2): the wait ends
// at once, the transfer fails) and every later wait fails before it starts. Threads without a
// scope are not affected.
#pragma once

#include <mutex>
#include <string>

namespace grootfs::frontend::image::http {

class Cancellation {
 public:
  // Thread-safe; idempotent.
  void Cancel();
  bool cancelled() const;

 private:
  friend class CancellableWait;
  mutable std::mutex mutex_;
  bool cancelled_ = false;  // guarded by mutex_
  int fd_ = -1;             // the socket waited on, guarded by mutex_
};

// While it lives, `cancellation` can end the calling thread's transfers (in place of the
// scope around it, if any).
class CancelScope {
 public:
  explicit CancelScope(Cancellation& cancellation);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  Cancellation* previous_;
};

// Around one wait of a connection on socket `fd` (which stays open while this lives): throws
// TransferError (naming `where`) when the calling thread's transfers were cancelled; otherwise a
// Cancel from now on shuts `fd` down.
class CancellableWait {
 public:
  CancellableWait(int fd, const std::string& where);
  ~CancellableWait();
  CancellableWait(const CancellableWait&) = delete;
  CancellableWait& operator=(const CancellableWait&) = delete;

 private:
  Cancellation* cancellation_;
  int previous_ = -1;
};

}  // namespace grootfs::frontend::image::http
