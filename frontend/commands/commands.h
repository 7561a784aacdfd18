// One function per command of the contract. Each prints its stdout and returns the exit
// status; failures are thrown as frontend::Error (main prints the one line).
#pragma once

#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "frontend/cli.h"
#include "frontend/helper_client.h"
#include "frontend/image/image_spec.h"

namespace grootfs::frontend::commands {

int Create(const Invocation& inv);
int Delete(const Invocation& inv);
int Stats(const Invocation& inv);
int List(const Invocation& inv);
int Clean(const Invocation& inv);
int Capacity(const Invocation& inv);
int InitStore(const Invocation& inv);
int DeleteStore(const Invocation& inv);
int Check(const Invocation& inv);

// Shared by delete and stats: "ID" or "STORE/images/ID" to the ID; throws for other paths.
std::string ImageIdFromArg(const Invocation& inv, const std::string& arg);

// Reads and checks an image's metadata (oci:///, tar, docker://) as create does.
image::ImageSpec LoadImage(const Invocation& inv, const std::string& ref_text);

// Removes unused layers when the store's usage is over the threshold (clean, --with-clean),
// but none whose key is in `keep` (the layers the image being created needs).
void CleanStore(const Invocation& inv, std::optional<std::int64_t> threshold,
                const std::set<std::string>& keep = {});

// StoreUsage and UnusedLayersSize (bytes) to the metrics, when metrics are configured.
void EmitStoreMetrics(const Invocation& inv);

// Bytes an image has written (its upper dir), from the quota accounting where its record has
// a quota, by walking the upper dir where it has none. `helper` is started on demand (XFS).
std::uint64_t ImageExclusiveBytes(const Invocation& inv, const std::string& id,
                                  const nlohmann::json& record,
                                  std::unique_ptr<HelperClient>& helper);

}  // namespace grootfs::frontend::commands
