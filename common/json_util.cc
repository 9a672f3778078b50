#include "common/json_util.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace vertebra {
namespace {

using json = nlohmann::json;

// Where the parser is: one frame per open object or array.
struct Frame {
  bool array = false;
  std::string key;             // Objects: the key whose value is being read.
  std::set<std::string> keys;  // Objects: the keys seen so far.
  int elements = 0;            // Arrays: the elements read so far (the index of the next one).
};

class PathTracker {
 public:
  struct Duplicate {
    std::string message;
  };

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        frames_.push_back(Frame{event == json::parse_event_t::array_start, "", {}, 0});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        Finished();
        break;
      case json::parse_event_t::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second) {
          f.key.clear();  // The path names the object that holds the repeated key.
          throw Duplicate{absl::StrCat("key \"", parsed.get<std::string>(), "\" given twice")};
        }
        break;
      }
      case json::parse_event_t::value:
        Finished();
        break;
    }
    return true;
  }

  std::string Path() const {
    std::string path;
    for (const Frame& f : frames_) {
      if (f.array) {
        absl::StrAppend(&path, "[", f.elements, "]");
      } else if (!f.key.empty()) {
        absl::StrAppend(&path, path.empty() ? "" : ".", f.key);
      }
    }
    return path.empty() ? "(top level)" : path;
  }

 private:
  // A value ended: the next element of the enclosing array, or the next key of the object.
  void Finished() {
    if (frames_.empty()) return;
    Frame& f = frames_.back();
    if (f.array) {
      ++f.elements;
    } else {
      f.key.clear();
    }
  }

  std::vector<Frame> frames_;
};

// "[json.exception.out_of_range.406] number overflow ..." -> "number overflow ...".
std::string Reason(const char* what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    const size_t end = s.find("] ");
    if (end != std::string::npos) s = s.substr(end + 2);
  }
  return s;
}

}  // namespace

absl::StatusOr<json> ParseJsonStrict(std::string_view text) {
  PathTracker tracker;
  try {
    // The callback is copied into the parser: it holds a reference to the one tracker.
    return json::parse(text.begin(), text.end(),
                       [&tracker](int depth, json::parse_event_t event, json& parsed) {
                         return tracker(depth, event, parsed);
                       });
  } catch (const PathTracker::Duplicate& d) {
    return absl::InvalidArgumentError(absl::StrCat(tracker.Path(), ": ", d.message));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(tracker.Path(), ": ", Reason(e.what())));
  } catch (const std::exception& e) {  // E.g. bad_alloc on a hostile document.
    return absl::InvalidArgumentError(absl::StrCat(tracker.Path(), ": ", e.what()));
  }
}

}  // namespace vertebra
