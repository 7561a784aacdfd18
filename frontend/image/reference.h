// Parsing of the IMAGE argument of `create`: docker://, oci:/// or an absolute tar path.
#pragma once

#include <string>

namespace grootfs::frontend::image {

enum class RefKind { kDocker, kOci, kTar };

struct ImageRef {
  RefKind kind = RefKind::kTar;
  std::string original;    // the argument as given
  std::string path;        // kOci: layout directory, kTar: tar file (absolute)
  std::string ref_name;    // kOci: the :REF after the path, "" when absent
  std::string registry;    // kDocker: host[:port]; "registry-1.docker.io" for Docker Hub
  std::string repository;  // kDocker: e.g. "library/alpine" for a single-component name
  std::string tag;         // kDocker: "latest" when neither tag nor digest is given
  std::string digest;      // kDocker: "sha256:<64 hex>" when given with @
};

// Accepted forms:
//   docker:///NAME[:TAG|@sha256:HEX]        Docker Hub (or, as in docker and grootfs, the
//                                           registry named by a first component containing
//                                           '.' or ':' or equal to "localhost")
//   docker://HOST[:PORT]/NAME[:TAG|@sha256:HEX]
//   oci:///ABSOLUTE/PATH[:REF]              REF: after the last ':' of the final component
//   /ABSOLUTE/PATH/TO/FILE.tar              a plain (or gzip/zstd) tar of a root filesystem
// Anything else throws Error with a one-line reason.
ImageRef ParseImageRef(const std::string& s);

}  // namespace grootfs::frontend::image
