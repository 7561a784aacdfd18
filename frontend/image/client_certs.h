// The directory of remote_layer_client_certificates_path, read the way docker reads its
// certs.d directories: every *.crt is a CA certificate trusted for layers' urls, every *.cert
// a client certificate whose key is the *.key of the same name. Used for layer urls only
// (url_opener.h), never for a registry.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace grootfs::frontend::image {

struct ClientCerts {
  std::string ca_pem;                                           // the *.crt files, concatenated
  std::vector<std::pair<std::string, std::string>> identities;  // client cert, key files
};

// Reads `dir` ("" for none: no certificates). Names are taken in sorted order. Throws Error
// for a directory or CA file that cannot be read, and for a certificate without its key or a
// key without its certificate.
ClientCerts LoadClientCerts(const std::string& dir);

}  // namespace grootfs::frontend::image
