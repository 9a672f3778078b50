#include "eval/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>

#include "absl/strings/str_format.h"

namespace vertebra::eval {
namespace {

constexpr int kNumIou = 10;
constexpr int kNumRecall = 101;
constexpr int kNumAreas = 4;
enum Area { kAreaAll = 0, kAreaSmall = 1, kAreaMedium = 2, kAreaLarge = 3 };
// Params.areaRng: [0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2], both ends inclusive.
constexpr double kAreaRanges[kNumAreas][2] = {{0, 1e10}, {0, 1024}, {1024, 9216}, {9216, 1e10}};
// The largest of Params.maxDets: detections of one (image, category) past it never count.
constexpr int kMaxDetsCap = 100;
// evaluateImg: iou = min([t, 1-1e-10]), so that a threshold of 1 still lets an exact box match.
constexpr double kMaxIouThreshold = 1 - 1e-10;
// np.spacing(1), the eps in pr = tp / (fp + tp + eps).
constexpr double kEps = std::numeric_limits<double>::epsilon();
// numpy reduces a contiguous float64 array in chunks of its buffer size (np.getbufsize()), summing
// each chunk pairwise and the chunk sums in order; np.mean then divides by the count.
constexpr size_t kNumpyBufferSize = 8192;
// numpy's pairwise summation: blocks of at most 128 summed with 8 interleaved accumulators.
constexpr size_t kNumpyPairwiseBlock = 128;

// The settings the twelve numbers read: (area, maxDets), and whether precision is needed or only
// recall. Index 0 is (all, 100).
struct Setting {
  Area area;
  int max_dets;
  bool needs_precision;
};
constexpr Setting kSettings[] = {
    {kAreaAll, 100, true},   {kAreaSmall, 100, true}, {kAreaMedium, 100, true},
    {kAreaLarge, 100, true}, {kAreaAll, 1, false},    {kAreaAll, 10, false},
};
constexpr int kNumSettings = sizeof(kSettings) / sizeof(kSettings[0]);
enum SettingIndex { kAll100 = 0, kSmall100 = 1, kMedium100 = 2, kLarge100 = 3, kAll1 = 4, kAll10 = 5 };

// numpy.linspace(start, stop, N): y = arange(N) * step + start with step = (stop - start) / (N - 1),
// then the last element set to stop.
template <size_t N>
std::array<double, N> NumpyLinspace(double start, double stop) {
  std::array<double, N> y{};
  const double step = (stop - start) / static_cast<double>(N - 1);
  for (size_t i = 0; i < N; ++i) y[i] = static_cast<double>(i) * step + start;
  y[N - 1] = stop;
  return y;
}

// numpy's argsort(-score, kind='mergesort') order: higher scores first, NaN last; callers break
// ties by input position.
bool RanksBefore(double a, double b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a > b;
}

bool InRange(double area, Area a) { return !(area < kAreaRanges[a][0] || area > kAreaRanges[a][1]); }

// numpy's pairwise_sum for float64 (loops_utils.h), in its exact order of additions.
double PairwiseSum(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= kNumpyPairwiseBlock) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum(a, n2) + PairwiseSum(a + n2, n - n2);
}

// np.mean(s[s > -1]) or -1 when nothing is > -1, as summarize() computes each number. `values`
// is in C order of pycocotools' array; `scratch` is reused.
double MeanOfValid(const double* values, size_t n, std::vector<double>& scratch) {
  scratch.clear();
  for (size_t i = 0; i < n; ++i) {
    if (values[i] > -1) scratch.push_back(values[i]);
  }
  if (scratch.empty()) return -1;
  double sum = 0;
  for (size_t begin = 0; begin < scratch.size(); begin += kNumpyBufferSize) {
    sum += PairwiseSum(scratch.data() + begin, std::min(kNumpyBufferSize, scratch.size() - begin));
  }
  return sum / static_cast<double>(scratch.size());
}

// Sorted ids and the position of an id among them (-1 when absent).
std::vector<int64_t> SortedIds(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

int IndexOf(const std::vector<int64_t>& sorted, int64_t id) {
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), id);
  return it != sorted.end() && *it == id ? static_cast<int>(it - sorted.begin()) : -1;
}

// A GT annotation or a detection, placed by dense (category, image) indices; `pos` is its index in
// the input.
struct Entry {
  int cat;
  int img;
  int pos;
};

// What one detection became in its (image, category), for every area range and threshold.
struct DetOutcome {
  double score;
  int rank;                     // 0-based position among the detections of its (image, category).
  uint16_t matched[kNumAreas];  // Bit t: matched to a non-ignored GT at threshold t (a true positive).
  uint16_t ignored[kNumAreas];  // Bit t: neither true nor false positive at threshold t.
};
static_assert(kNumIou <= 16, "one bit per threshold");

// Buffers reused across (image, category) groups and categories, so the inner loops allocate
// nothing once they have grown.
struct Scratch {
  std::vector<double> ious;  // [d * G + g]
  std::vector<double> det_area;
  std::vector<uint8_t> gt_crowd;
  std::vector<uint8_t> gt_ignored;
  std::vector<uint8_t> gt_taken;
  std::vector<int> gt_order;
  std::vector<DetOutcome> outcomes;  // Of the current category, in image order then rank.
  std::vector<double> rc;
  std::vector<double> pr;
};

// evaluateImg for one (image, category), all area ranges and thresholds at once. `gts` and `dets`
// are this group's entries, GTs in input order, detections already in rank order. Adds the
// group's non-ignored GT count per area to `npos` and its (at most 100) detections to
// scratch.outcomes.
void EvaluateGroup(const GroundTruth& gt, const std::vector<Detection>& detections, const Entry* gts, int num_gts,
                   const Entry* dets, int num_dets, Scratch& s, int64_t npos[kNumAreas]) {
  const std::array<double, kNumIou>& thresholds = IouThresholds();
  const int G = num_gts;
  const int D = std::min(num_dets, kMaxDetsCap);
  s.ious.resize(static_cast<size_t>(D) * G);
  s.det_area.resize(D);
  for (int d = 0; d < D; ++d) {
    const Box& db = detections[dets[d].pos].bbox;
    s.det_area[d] = db.w * db.h;  // loadRes: ann['area'] = bb[2] * bb[3].
    for (int g = 0; g < G; ++g) {
      const Annotation& a = gt.annotations[gts[g].pos];
      s.ious[static_cast<size_t>(d) * G + g] = BoxIou(db, a.bbox, a.iscrowd);
    }
  }
  const size_t first_outcome = s.outcomes.size();
  for (int d = 0; d < D; ++d) {
    DetOutcome o{};
    o.score = detections[dets[d].pos].score;
    o.rank = d;
    s.outcomes.push_back(o);
  }
  DetOutcome* outcomes = s.outcomes.data() + first_outcome;

  s.gt_crowd.resize(G);
  s.gt_ignored.resize(G);
  s.gt_taken.resize(G);
  s.gt_order.resize(G);
  for (int g = 0; g < G; ++g) s.gt_crowd[g] = gt.annotations[gts[g].pos].iscrowd;
  for (int area = 0; area < kNumAreas; ++area) {
    // A GT is ignored when it is a crowd or its `area` field is outside the range; the matching
    // visits the others first, each part in input order (a stable sort on the ignore flag).
    int next = 0;
    for (int g = 0; g < G; ++g) {
      const Annotation& a = gt.annotations[gts[g].pos];
      s.gt_ignored[g] = s.gt_crowd[g] || !InRange(a.area, static_cast<Area>(area));
      if (!s.gt_ignored[g]) s.gt_order[next++] = g;
    }
    npos[area] += next;
    for (int g = 0; g < G; ++g) {
      if (s.gt_ignored[g]) s.gt_order[next++] = g;
    }
    for (int t = 0; t < kNumIou; ++t) {
      const uint16_t bit = static_cast<uint16_t>(1u << t);
      std::fill(s.gt_taken.begin(), s.gt_taken.end(), 0);
      for (int d = 0; d < D; ++d) {
        const double* iou_row = s.ious.data() + static_cast<size_t>(d) * G;
        double best = std::min(thresholds[t], kMaxIouThreshold);
        int m = -1;
        for (int j = 0; j < G; ++j) {
          const int g = s.gt_order[j];
          // A matched GT is taken, unless it is a crowd (a crowd absorbs any number).
          if (s.gt_taken[g] && !s.gt_crowd[g]) continue;
          // Once matched to a non-ignored GT, the ignored ones (all after it) cannot take over.
          if (m > -1 && !s.gt_ignored[m] && s.gt_ignored[g]) break;
          // >=: on equal IoU the later GT in this order wins.
          if (iou_row[g] < best) continue;
          best = iou_row[g];
          m = g;
        }
        if (m == -1) {
          // Unmatched: a false positive, unless the detection's own area is outside the range.
          if (!InRange(s.det_area[d], static_cast<Area>(area))) outcomes[d].ignored[area] |= bit;
          continue;
        }
        s.gt_taken[m] = 1;
        if (s.gt_ignored[m]) {
          outcomes[d].ignored[area] |= bit;  // Matched to an ignored GT: neither TP nor FP.
        } else {
          outcomes[d].matched[area] |= bit;
        }
      }
    }
  }
}

// Output of accumulate(): precision [setting][t][r][k] and recall [setting][t][k], -1 where the
// (category, area) has no non-ignored GT.
struct Accumulated {
  int num_categories = 0;
  std::vector<double> precision[kNumSettings];
  std::vector<double> recall[kNumSettings];
};

// accumulate() for category k, from scratch.outcomes sorted into the global score order.
void AccumulateCategory(int k, const int64_t npos[kNumAreas], Scratch& s, Accumulated& acc) {
  const std::array<double, kNumRecall>& recall_points = RecallThresholds();
  const int K = acc.num_categories;
  s.rc.resize(s.outcomes.size());
  s.pr.resize(s.outcomes.size());
  for (int si = 0; si < kNumSettings; ++si) {
    const Setting& setting = kSettings[si];
    const int64_t positives = npos[setting.area];
    if (positives == 0) continue;  // npig == 0: precision and recall stay -1.
    const double npig = static_cast<double>(positives);
    for (int t = 0; t < kNumIou; ++t) {
      const uint16_t bit = static_cast<uint16_t>(1u << t);
      // Ignored detections are skipped rather than carried with unchanged cumulative sums as
      // pycocotools does; neither the envelope nor the first index reaching a recall point moves.
      double tp = 0;
      double fp = 0;
      size_t n = 0;
      for (const DetOutcome& o : s.outcomes) {
        if (o.rank >= setting.max_dets || (o.ignored[setting.area] & bit)) continue;
        if (o.matched[setting.area] & bit) {
          tp += 1;
        } else {
          fp += 1;
        }
        s.rc[n] = tp / npig;
        s.pr[n] = tp / (fp + tp + kEps);
        ++n;
      }
      acc.recall[si][static_cast<size_t>(t) * K + k] = n > 0 ? s.rc[n - 1] : 0;
      if (!setting.needs_precision) continue;
      // Precision envelope: pr[i] = max(pr[i:]).
      for (size_t i = n; i-- > 1;) {
        if (s.pr[i] > s.pr[i - 1]) s.pr[i - 1] = s.pr[i];
      }
      // searchsorted(rc, r, side='left') for each recall point; past the end the precision is 0.
      size_t idx = 0;
      double* out = acc.precision[si].data() + static_cast<size_t>(t) * kNumRecall * K + k;
      for (int r = 0; r < kNumRecall; ++r) {
        while (idx < n && s.rc[idx] < recall_points[r]) ++idx;
        out[static_cast<size_t>(r) * K] = idx < n ? s.pr[idx] : 0;
      }
    }
  }
}

// The index of `value` among the thresholds by exact equality, as summarize() finds it with
// np.where(iouThr == p.iouThrs); -1 when absent.
int ThresholdIndex(double value) {
  const std::array<double, kNumIou>& thresholds = IouThresholds();
  for (int t = 0; t < kNumIou; ++t) {
    if (thresholds[t] == value) return t;
  }
  return -1;
}

}  // namespace

const std::array<std::string_view, kNumCocoStats> kCocoStatNames = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                                                    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

std::array<double, kNumCocoStats> CocoStats::AsArray() const {
  return {ap, ap50, ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100, ar_small, ar_medium, ar_large};
}

const std::array<double, 10>& IouThresholds() {
  static const std::array<double, 10> kThresholds = NumpyLinspace<10>(0.5, 0.95);
  return kThresholds;
}

const std::array<double, 101>& RecallThresholds() {
  static const std::array<double, 101> kPoints = NumpyLinspace<101>(0.0, 1.0);
  return kPoints;
}

double BoxIou(const Box& d, const Box& g, bool crowd) {
  // maskApi.c bbIou, operation for operation.
  const double w = std::fmin(d.w + d.x, g.w + g.x) - std::fmax(d.x, g.x);
  if (w <= 0) return 0;
  const double h = std::fmin(d.h + d.y, g.h + g.y) - std::fmax(d.y, g.y);
  if (h <= 0) return 0;
  const double inter = w * h;
  const double det_area = d.w * d.h;
  const double gt_area = g.w * g.h;
  const double union_area = crowd ? det_area : det_area + gt_area - inter;
  return inter / union_area;
}

absl::Status ValidateGroundTruth(const GroundTruth& gt) {
  std::vector<std::pair<int64_t, size_t>> images;  // (id, index)
  images.reserve(gt.images.size());
  for (size_t i = 0; i < gt.images.size(); ++i) {
    const Image& im = gt.images[i];
    if (im.width <= 0 || im.height <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("image %d: width and height must be positive (got %d x %d)", im.id, im.width, im.height));
    }
    images.emplace_back(im.id, i);
  }
  std::sort(images.begin(), images.end());
  for (size_t i = 1; i < images.size(); ++i) {
    if (images[i].first == images[i - 1].first) {
      return absl::InvalidArgumentError(absl::StrFormat("image id %d appears more than once", images[i].first));
    }
  }
  std::vector<int64_t> categories;
  categories.reserve(gt.categories.size());
  for (const Category& c : gt.categories) categories.push_back(c.id);
  std::sort(categories.begin(), categories.end());
  for (size_t i = 1; i < categories.size(); ++i) {
    if (categories[i] == categories[i - 1]) {
      return absl::InvalidArgumentError(absl::StrFormat("category id %d appears more than once", categories[i]));
    }
  }
  std::vector<int64_t> annotation_ids;
  annotation_ids.reserve(gt.annotations.size());
  for (const Annotation& a : gt.annotations) {
    if (a.id < 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "annotation %d: id must be >= 1 (pycocotools reads a matched GT id of 0 as 'unmatched')", a.id));
    }
    const auto im = std::lower_bound(images.begin(), images.end(), std::make_pair(a.image_id, size_t{0}));
    if (im == images.end() || im->first != a.image_id) {
      return absl::InvalidArgumentError(
          absl::StrFormat("annotation %d: image_id %d is not an image of the ground truth", a.id, a.image_id));
    }
    if (!std::binary_search(categories.begin(), categories.end(), a.category_id)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("annotation %d: category_id %d is not a category of the ground truth", a.id, a.category_id));
    }
    const Box& b = a.bbox;
    if (!std::isfinite(b.x) || !std::isfinite(b.y) || !std::isfinite(b.w) || !std::isfinite(b.h)) {
      return absl::InvalidArgumentError(absl::StrFormat("annotation %d: bbox has a value that is not finite", a.id));
    }
    if (!(b.w > 0) || !(b.h > 0)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("annotation %d: bbox width and height must be positive (got %g x %g)", a.id, b.w, b.h));
    }
    const Image& image = gt.images[im->second];
    if (b.x < -kBoxSlackPixels || b.y < -kBoxSlackPixels || b.x + b.w > image.width + kBoxSlackPixels ||
        b.y + b.h > image.height + kBoxSlackPixels) {
      return absl::InvalidArgumentError(
          absl::StrFormat("annotation %d: bbox [%g, %g, %g, %g] reaches outside its %d x %d image %d", a.id, b.x, b.y,
                          b.w, b.h, image.width, image.height, image.id));
    }
    if (!std::isfinite(a.area) || a.area < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("annotation %d: area must be a finite number >= 0 (got %g)", a.id, a.area));
    }
    annotation_ids.push_back(a.id);
  }
  std::sort(annotation_ids.begin(), annotation_ids.end());
  for (size_t i = 1; i < annotation_ids.size(); ++i) {
    if (annotation_ids[i] == annotation_ids[i - 1]) {
      return absl::InvalidArgumentError(absl::StrFormat("annotation %d: id appears more than once", annotation_ids[i]));
    }
  }
  return absl::OkStatus();
}

CocoStats Evaluate(const GroundTruth& gt, const std::vector<Detection>& detections) {
  // Params: imgIds and catIds are the sorted GT ids.
  std::vector<int64_t> ids;
  ids.reserve(gt.images.size());
  for (const Image& im : gt.images) ids.push_back(im.id);
  const std::vector<int64_t> image_ids = SortedIds(std::move(ids));
  ids.clear();
  for (const Category& c : gt.categories) ids.push_back(c.id);
  const std::vector<int64_t> category_ids = SortedIds(std::move(ids));
  const int K = static_cast<int>(category_ids.size());

  // Group by (category, image). GTs keep input order within a group; detections are ranked by
  // score, ties in input order (the stable mergesort of evaluateImg).
  std::vector<Entry> gts;
  gts.reserve(gt.annotations.size());
  for (size_t i = 0; i < gt.annotations.size(); ++i) {
    const Annotation& a = gt.annotations[i];
    const int cat = IndexOf(category_ids, a.category_id);
    const int img = IndexOf(image_ids, a.image_id);
    if (cat >= 0 && img >= 0) gts.push_back({cat, img, static_cast<int>(i)});
  }
  std::sort(gts.begin(), gts.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.cat, a.img, a.pos) < std::tie(b.cat, b.img, b.pos);
  });
  std::vector<Entry> dets;
  dets.reserve(detections.size());
  for (size_t i = 0; i < detections.size(); ++i) {
    const Detection& d = detections[i];
    const int cat = IndexOf(category_ids, d.category_id);
    const int img = IndexOf(image_ids, d.image_id);
    if (cat >= 0 && img >= 0) dets.push_back({cat, img, static_cast<int>(i)});
  }
  std::sort(dets.begin(), dets.end(), [&detections](const Entry& a, const Entry& b) {
    if (a.cat != b.cat) return a.cat < b.cat;
    if (a.img != b.img) return a.img < b.img;
    const double sa = detections[a.pos].score;
    const double sb = detections[b.pos].score;
    if (RanksBefore(sa, sb)) return true;
    if (RanksBefore(sb, sa)) return false;
    return a.pos < b.pos;
  });

  Accumulated acc;
  acc.num_categories = K;
  for (int si = 0; si < kNumSettings; ++si) {
    if (kSettings[si].needs_precision) acc.precision[si].assign(static_cast<size_t>(kNumIou) * kNumRecall * K, -1);
    acc.recall[si].assign(static_cast<size_t>(kNumIou) * K, -1);
  }

  Scratch s;
  size_t gi = 0;
  size_t di = 0;
  for (int k = 0; k < K; ++k) {
    s.outcomes.clear();
    int64_t npos[kNumAreas] = {0, 0, 0, 0};
    // Images in ascending id order, so that the concatenation below is pycocotools'.
    while ((gi < gts.size() && gts[gi].cat == k) || (di < dets.size() && dets[di].cat == k)) {
      int img = std::numeric_limits<int>::max();
      if (gi < gts.size() && gts[gi].cat == k) img = gts[gi].img;
      if (di < dets.size() && dets[di].cat == k) img = std::min(img, dets[di].img);
      const size_t g0 = gi;
      while (gi < gts.size() && gts[gi].cat == k && gts[gi].img == img) ++gi;
      const size_t d0 = di;
      while (di < dets.size() && dets[di].cat == k && dets[di].img == img) ++di;
      EvaluateGroup(gt, detections, gts.data() + g0, static_cast<int>(gi - g0), dets.data() + d0,
                    static_cast<int>(di - d0), s, npos);
    }
    // accumulate(): the detections of all images (each image's first maxDet) in one list, stably
    // sorted by score. Filtering by rank afterwards keeps that order, so one sort serves every maxDet.
    std::stable_sort(s.outcomes.begin(), s.outcomes.end(),
                     [](const DetOutcome& a, const DetOutcome& b) { return RanksBefore(a.score, b.score); });
    AccumulateCategory(k, npos, s, acc);
  }

  // summarize(): each number is the mean of the entries > -1 of its slice, in C order.
  std::vector<double> scratch;
  const auto mean_of = [&scratch](const std::vector<double>& v, size_t begin, size_t count) {
    return MeanOfValid(v.data() + begin, count, scratch);
  };
  const size_t precision_size = static_cast<size_t>(kNumIou) * kNumRecall * K;
  const size_t per_threshold = static_cast<size_t>(kNumRecall) * K;
  const size_t recall_size = static_cast<size_t>(kNumIou) * K;
  const auto ap_at = [&](double iou) {
    const int t = ThresholdIndex(iou);
    return t < 0 ? -1.0 : mean_of(acc.precision[kAll100], t * per_threshold, per_threshold);
  };
  CocoStats stats;
  stats.ap = mean_of(acc.precision[kAll100], 0, precision_size);
  stats.ap50 = ap_at(.5);
  stats.ap75 = ap_at(.75);
  stats.ap_small = mean_of(acc.precision[kSmall100], 0, precision_size);
  stats.ap_medium = mean_of(acc.precision[kMedium100], 0, precision_size);
  stats.ap_large = mean_of(acc.precision[kLarge100], 0, precision_size);
  stats.ar1 = mean_of(acc.recall[kAll1], 0, recall_size);
  stats.ar10 = mean_of(acc.recall[kAll10], 0, recall_size);
  stats.ar100 = mean_of(acc.recall[kAll100], 0, recall_size);
  stats.ar_small = mean_of(acc.recall[kSmall100], 0, recall_size);
  stats.ar_medium = mean_of(acc.recall[kMedium100], 0, recall_size);
  stats.ar_large = mean_of(acc.recall[kLarge100], 0, recall_size);
  return stats;
}

std::string FormatSummary(const CocoStats& stats) {
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int max_dets;
  };
  // summarize()'s _summarizeDets, in stats order.
  static constexpr Line kLines[kNumCocoStats] = {
      {true, "0.50:0.95", "all", 100},    {true, "0.50", "all", 100},          {true, "0.75", "all", 100},
      {true, "0.50:0.95", "small", 100},  {true, "0.50:0.95", "medium", 100},  {true, "0.50:0.95", "large", 100},
      {false, "0.50:0.95", "all", 1},     {false, "0.50:0.95", "all", 10},     {false, "0.50:0.95", "all", 100},
      {false, "0.50:0.95", "small", 100}, {false, "0.50:0.95", "medium", 100}, {false, "0.50:0.95", "large", 100},
  };
  const std::array<double, kNumCocoStats> values = stats.AsArray();
  std::string out;
  for (int i = 0; i < kNumCocoStats; ++i) {
    const Line& l = kLines[i];
    // ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
    absl::StrAppendFormat(&out, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                          l.ap ? "Average Precision" : "Average Recall", l.ap ? "(AP)" : "(AR)", l.iou, l.area,
                          l.max_dets, values[i]);
  }
  return out;
}

}  // namespace vertebra::eval
