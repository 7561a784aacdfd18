// The known name nearest to a mistyped one, for "did you mean" hints (flags, commands, config
// keys).
#pragma once

#include <string>
#include <vector>

namespace grootfs::frontend {

// Levenshtein distance.
std::size_t EditDistance(const std::string& a, const std::string& b);

// The candidate nearest to `name`: one that contains it or that it contains (a shortened or
// lengthened name) first, else the fewest edits; ties go to the first in order. "" if there are
// no candidates.
std::string NearestName(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace grootfs::frontend
