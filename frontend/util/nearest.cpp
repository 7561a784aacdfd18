#include "frontend/util/nearest.h"

#include <algorithm>

namespace grootfs::frontend {

std::size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string NearestName(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_score = ~std::size_t{0};
  for (const auto& candidate : candidates) {
    const bool contains =
        candidate.find(name) != std::string::npos || name.find(candidate) != std::string::npos;
    const std::size_t score =
        contains ? (candidate.size() > name.size() ? candidate.size() - name.size()
                                                   : name.size() - candidate.size())
                 : 1000 + EditDistance(name, candidate);
    if (score < best_score) best = candidate, best_score = score;
  }
  return best;
}

}  // namespace grootfs::frontend
