#include "eval/coco_json.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace vertebra::eval {
namespace {

using nlohmann::json;

// Longest excerpt of an offending value quoted in an error.
constexpr size_t kMaxQuotedChars = 40;

std::string Quote(const json& j) {
  std::string s = j.dump();
  if (s.size() > kMaxQuotedChars) s = s.substr(0, kMaxQuotedChars) + "...";
  return s;
}

absl::Status FieldError(std::string_view where, std::string_view field, std::string_view reason) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: '%s' %s", where, field, reason));
}

absl::StatusOr<json> ParseJson(std::string_view text) {
  absl::StatusOr<json> parsed = ParseJsonStrict(text);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrFormat("malformed JSON: %s", parsed.status().message()));
  return parsed;
}

// obj[field], or InvalidArgument naming `where` and the field when it is absent.
absl::StatusOr<const json*> Field(const json& obj, std::string_view where, const char* field) {
  const auto it = obj.find(field);
  if (it == obj.end()) return FieldError(where, field, "is missing");
  return &*it;
}

absl::StatusOr<int64_t> IntField(const json& obj, std::string_view where, const char* field) {
  ASSIGN_OR_RETURN(const json* v, Field(obj, where, field));
  if (!v->is_number_integer()) {
    return FieldError(where, field, absl::StrFormat("must be an integer, got %s %s", v->type_name(), Quote(*v)));
  }
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return FieldError(where, field, absl::StrFormat("%s is out of range", Quote(*v)));
  }
  return v->get<int64_t>();
}

absl::StatusOr<double> NumberField(const json& obj, std::string_view where, const char* field) {
  ASSIGN_OR_RETURN(const json* v, Field(obj, where, field));
  if (!v->is_number()) {
    return FieldError(where, field, absl::StrFormat("must be a number, got %s %s", v->type_name(), Quote(*v)));
  }
  return v->get<double>();
}

absl::StatusOr<Box> BoxField(const json& obj, std::string_view where) {
  ASSIGN_OR_RETURN(const json* v, Field(obj, where, "bbox"));
  if (!v->is_array() || v->size() != 4 ||
      !std::all_of(v->begin(), v->end(), [](const json& x) { return x.is_number(); })) {
    return FieldError(where, "bbox", absl::StrFormat("must be 4 numbers [x, y, w, h], got %s", Quote(*v)));
  }
  return Box{(*v)[0].get<double>(), (*v)[1].get<double>(), (*v)[2].get<double>(), (*v)[3].get<double>()};
}

// An optional string field; empty when absent.
absl::StatusOr<std::string> OptionalString(const json& obj, std::string_view where, const char* field) {
  const auto it = obj.find(field);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) {
    return FieldError(where, field, absl::StrFormat("must be a string, got %s %s", it->type_name(), Quote(*it)));
  }
  return it->get<std::string>();
}

absl::StatusOr<const json*> ArrayMember(const json& top, const char* key) {
  const auto it = top.find(key);
  if (it == top.end()) return absl::InvalidArgumentError(absl::StrFormat("missing the '%s' array", key));
  if (!it->is_array()) {
    return absl::InvalidArgumentError(absl::StrFormat("'%s' must be an array, got %s", key, it->type_name()));
  }
  return &*it;
}

absl::Status CheckObject(const json& j, std::string_view where) {
  if (j.is_object()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: must be an object, got %s %s", where, j.type_name(), Quote(j)));
}

absl::StatusOr<Image> ParseImage(const json& j, size_t index) {
  std::string where = absl::StrFormat("images[%d]", index);
  RETURN_IF_ERROR(CheckObject(j, where));
  Image im;
  ASSIGN_OR_RETURN(im.id, IntField(j, where, "id"));
  where = absl::StrFormat("image %d", im.id);
  ASSIGN_OR_RETURN(im.width, IntField(j, where, "width"));
  ASSIGN_OR_RETURN(im.height, IntField(j, where, "height"));
  ASSIGN_OR_RETURN(im.file_name, OptionalString(j, where, "file_name"));
  return im;
}

absl::StatusOr<Category> ParseCategory(const json& j, size_t index) {
  std::string where = absl::StrFormat("categories[%d]", index);
  RETURN_IF_ERROR(CheckObject(j, where));
  Category c;
  ASSIGN_OR_RETURN(c.id, IntField(j, where, "id"));
  where = absl::StrFormat("category %d", c.id);
  ASSIGN_OR_RETURN(c.name, OptionalString(j, where, "name"));
  return c;
}

absl::StatusOr<Annotation> ParseAnnotation(const json& j, size_t index) {
  std::string where = absl::StrFormat("annotations[%d]", index);
  RETURN_IF_ERROR(CheckObject(j, where));
  Annotation a;
  ASSIGN_OR_RETURN(a.id, IntField(j, where, "id"));
  where = absl::StrFormat("annotation %d", a.id);
  ASSIGN_OR_RETURN(a.image_id, IntField(j, where, "image_id"));
  ASSIGN_OR_RETURN(a.category_id, IntField(j, where, "category_id"));
  ASSIGN_OR_RETURN(a.bbox, BoxField(j, where));
  ASSIGN_OR_RETURN(a.area, NumberField(j, where, "area"));
  ASSIGN_OR_RETURN(const json* crowd, Field(j, where, "iscrowd"));
  if (crowd->is_boolean()) {
    a.iscrowd = crowd->get<bool>();
  } else if (crowd->is_number_integer() && (*crowd == 0 || *crowd == 1)) {
    a.iscrowd = *crowd == 1;
  } else {
    return FieldError(where, "iscrowd", absl::StrFormat("must be 0 or 1, got %s", Quote(*crowd)));
  }
  return a;
}

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

}  // namespace

absl::StatusOr<GroundTruth> ParseCocoInstances(std::string_view json_text) {
  ASSIGN_OR_RETURN(const json top, ParseJson(json_text));
  if (!top.is_object()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a COCO instances file must be an object with images, categories and annotations, got %s", top.type_name()));
  }
  ASSIGN_OR_RETURN(const json* images, ArrayMember(top, "images"));
  ASSIGN_OR_RETURN(const json* categories, ArrayMember(top, "categories"));
  ASSIGN_OR_RETURN(const json* annotations, ArrayMember(top, "annotations"));
  GroundTruth gt;
  gt.images.reserve(images->size());
  for (size_t i = 0; i < images->size(); ++i) {
    ASSIGN_OR_RETURN(Image im, ParseImage((*images)[i], i));
    gt.images.push_back(std::move(im));
  }
  gt.categories.reserve(categories->size());
  for (size_t i = 0; i < categories->size(); ++i) {
    ASSIGN_OR_RETURN(Category c, ParseCategory((*categories)[i], i));
    gt.categories.push_back(std::move(c));
  }
  gt.annotations.reserve(annotations->size());
  for (size_t i = 0; i < annotations->size(); ++i) {
    ASSIGN_OR_RETURN(Annotation a, ParseAnnotation((*annotations)[i], i));
    gt.annotations.push_back(a);
  }
  RETURN_IF_ERROR(ValidateGroundTruth(gt));
  return gt;
}

absl::StatusOr<std::vector<Detection>> ParseCocoResults(std::string_view json_text, const GroundTruth& gt) {
  ASSIGN_OR_RETURN(const json top, ParseJson(json_text));
  if (!top.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a COCO results file must be an array of detections, got %s", top.type_name()));
  }
  std::vector<int64_t> image_ids;
  image_ids.reserve(gt.images.size());
  for (const Image& im : gt.images) image_ids.push_back(im.id);
  std::sort(image_ids.begin(), image_ids.end());
  std::vector<int64_t> category_ids;
  category_ids.reserve(gt.categories.size());
  for (const Category& c : gt.categories) category_ids.push_back(c.id);
  std::sort(category_ids.begin(), category_ids.end());

  std::vector<Detection> detections;
  detections.reserve(top.size());
  for (size_t i = 0; i < top.size(); ++i) {
    const json& j = top[i];
    const std::string where = absl::StrFormat("results[%d]", i);
    RETURN_IF_ERROR(CheckObject(j, where));
    Detection d;
    ASSIGN_OR_RETURN(d.image_id, IntField(j, where, "image_id"));
    ASSIGN_OR_RETURN(d.category_id, IntField(j, where, "category_id"));
    ASSIGN_OR_RETURN(d.bbox, BoxField(j, where));
    ASSIGN_OR_RETURN(d.score, NumberField(j, where, "score"));
    if (!std::binary_search(image_ids.begin(), image_ids.end(), d.image_id)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: image_id %d is not an image of the ground truth", where, d.image_id));
    }
    if (!std::binary_search(category_ids.begin(), category_ids.end(), d.category_id)) continue;
    detections.push_back(d);
  }
  return detections;
}

absl::StatusOr<GroundTruth> ReadCocoInstancesFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();  // Already names the path.
  absl::StatusOr<GroundTruth> gt = ParseCocoInstances(*text);
  if (!gt.ok()) return WithPath(path, gt.status());
  return gt;
}

absl::StatusOr<std::vector<Detection>> ReadCocoResultsFile(const std::string& path, const GroundTruth& gt) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();  // Already names the path.
  absl::StatusOr<std::vector<Detection>> detections = ParseCocoResults(*text, gt);
  if (!detections.ok()) return WithPath(path, detections.status());
  return detections;
}

}  // namespace vertebra::eval
