#include "trainyard/sweep/tpe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>

#include "trainyard/config/experiment_config.h"

namespace trainyard {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSqrt2 = 1.4142135623730951;

// The standard normal's CDF, and the mass between two standardized bounds computed on the side
// where it does not cancel (a mass deep in one tail is a difference of two numbers near 1).
double normal_cdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }
double normal_mass(double a, double b) {
  if (a >= 0) return 0.5 * (std::erfc(a / kSqrt2) - std::erfc(b / kSqrt2));
  if (b <= 0) return 0.5 * (std::erfc(-b / kSqrt2) - std::erfc(-a / kSqrt2));
  return 1.0 - 0.5 * std::erfc(-a / kSqrt2) - 0.5 * std::erfc(b / kSqrt2);
}
double log_mass(double a, double b) { return std::log(std::max(normal_mass(a, b), 1e-300)); }

// The standard normal's quantile: Acklam's rational approximation, refined by one Halley step.
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  p = std::clamp(p, 1e-300, 1.0 - 1e-16);
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = normal_cdf(x) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// Optuna's default_gamma and default_weights.
std::size_t below_count(std::size_t n) { return std::min<std::size_t>((n + 9) / 10, 25); }
std::vector<double> observation_weights(std::size_t n) {
  std::vector<double> w(n, 1.0);
  if (n >= 25) {  // linspace(1/n, 1, n - 25) for the oldest, then 25 ones
    const std::size_t ramp = n - 25;
    for (std::size_t i = 0; i < ramp; ++i) {
      w[i] = ramp == 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * static_cast<double>(i) / static_cast<double>(ramp - 1);
    }
  }
  return w;
}

// A mixture of one kernel per observation and the prior, its weights normalised.
std::vector<double> kernel_weights(std::size_t observations, double prior_weight) {
  std::vector<double> w = observation_weights(observations);
  w.push_back(prior_weight);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (auto& x : w) x /= total;
  return w;
}

std::size_t pick(const std::vector<double>& probabilities, std::mt19937_64& rng) {
  const double u = draw_unit(rng);
  double cumulative = 0.0;
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    cumulative += probabilities[i];
    if (u < cumulative) return i;
  }
  return probabilities.size() - 1;
}

double log_sum_exp(const std::vector<double>& v) {
  const double top = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(top)) return top;
  double sum = 0.0;
  for (const double x : v) sum += std::exp(x - top);
  return top + std::log(sum);
}

// A numeric parameter in the space TPE models it in.
struct NumericDomain {
  double low = 0, high = 0;
  bool log = false;
  bool integer = false;  // the unit interval around each integer is its mass (Optuna's q = 1)
};

NumericDomain domain_of(const RandomParameter& p) {
  if (p.distribution == "loguniform") return {std::log(p.low), std::log(p.high), true, false};
  if (p.distribution == "int") return {p.low - 0.5, p.high + 0.5, false, true};
  return {p.low, p.high, false, false};
}

double to_model(const NumericDomain& d, double value) { return d.log ? std::log(value) : value; }

std::string from_model(const NumericDomain& d, const RandomParameter& p, double x) {
  if (d.log) return format_double(std::clamp(std::exp(x), p.low, p.high));
  if (d.integer) return std::to_string(static_cast<std::int64_t>(std::clamp(std::round(x), p.low, p.high)));
  return format_double(std::clamp(x, p.low, p.high));
}

class NumericParzen {
 public:
  NumericParzen(const NumericDomain& d, const std::vector<double>& observed, double prior_weight)
      : d_(d), weights_(kernel_weights(observed.size(), prior_weight)) {
    mus_ = observed;
    mus_.push_back(0.5 * (d.low + d.high));  // the prior, over the whole range
    sigmas_ = neighbour_sigmas();
    sigmas_.back() = d.high - d.low;
  }

  double sample(std::mt19937_64& rng) const {
    const std::size_t k = pick(weights_, rng);
    const double a = (d_.low - mus_[k]) / sigmas_[k], b = (d_.high - mus_[k]) / sigmas_[k];
    const double u = normal_cdf(a) + draw_unit(rng) * (normal_cdf(b) - normal_cdf(a));
    return std::clamp(mus_[k] + sigmas_[k] * normal_quantile(u), d_.low, d_.high);
  }

  double log_pdf(double x) const {
    if (d_.integer) x = std::round(x);
    std::vector<double> terms(mus_.size());
    for (std::size_t k = 0; k < mus_.size(); ++k) {
      const double mu = mus_[k], s = sigmas_[k];
      const double accepted = log_mass((d_.low - mu) / s, (d_.high - mu) / s);
      double log_density;
      if (d_.integer) {
        const double lo = std::max(x - 0.5, d_.low), hi = std::min(x + 0.5, d_.high);
        log_density = log_mass((lo - mu) / s, (hi - mu) / s);
      } else {
        const double z = (x - mu) / s;
        log_density = -0.5 * z * z - std::log(s) - 0.5 * std::log(2 * M_PI);
      }
      terms[k] = std::log(weights_[k]) + log_density - accepted;
    }
    return log_sum_exp(terms);
  }

 private:
  // Each kernel's sigma: the larger distance to its neighbours (the range's ends count as
  // neighbours, but not for the outermost kernels: consider_endpoints=False), clipped.
  std::vector<double> neighbour_sigmas() const {
    std::vector<std::size_t> order(mus_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return mus_[i] < mus_[j]; });
    std::vector<double> sorted{d_.low};
    for (const auto i : order) sorted.push_back(mus_[i]);
    sorted.push_back(d_.high);
    const std::size_t n = mus_.size();
    std::vector<double> sorted_sigmas(n);
    for (std::size_t i = 0; i < n; ++i)
      sorted_sigmas[i] = std::max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
    if (sorted.size() >= 4) {
      sorted_sigmas.front() = sorted[2] - sorted[1];
      sorted_sigmas.back() = sorted[n] - sorted[n - 1];
    }
    const double range = d_.high - d_.low;
    const double min_sigma = range / std::min(100.0, 1.0 + static_cast<double>(n));
    std::vector<double> sigmas(n);
    for (std::size_t i = 0; i < n; ++i) sigmas[order[i]] = std::clamp(sorted_sigmas[i], min_sigma, range);
    return sigmas;
  }

  NumericDomain d_;
  std::vector<double> weights_, mus_, sigmas_;
};

class CategoricalParzen {
 public:
  CategoricalParzen(std::size_t choices, const std::vector<std::size_t>& observed, double prior_weight)
      : weights_(kernel_weights(observed.size(), prior_weight)) {
    const double spread = prior_weight / static_cast<double>(observed.size() + 1);
    table_.assign(observed.size() + 1, std::vector<double>(choices, spread));
    for (std::size_t k = 0; k < observed.size(); ++k) table_[k][observed[k]] += 1.0;
    for (auto& row : table_) {
      const double total = std::accumulate(row.begin(), row.end(), 0.0);
      for (auto& x : row) x /= total;
    }
  }
  std::size_t sample(std::mt19937_64& rng) const { return pick(table_[pick(weights_, rng)], rng); }
  double log_pdf(std::size_t choice) const {
    double p = 0.0;
    for (std::size_t k = 0; k < table_.size(); ++k) p += weights_[k] * table_[k][choice];
    return std::log(p);
  }

 private:
  std::vector<double> weights_;
  std::vector<std::vector<double>> table_;
};

std::size_t choice_index(const RandomParameter& p, const std::string& value) {
  const auto it = std::find(p.choices.begin(), p.choices.end(), value);
  if (it == p.choices.end()) throw std::invalid_argument(p.key + "=" + value + " is not one of its choices");
  return static_cast<std::size_t>(it - p.choices.begin());
}

// The history's indices, best first: finished trials by accuracy, then pruned ones, those that
// trained further first, each by accuracy (NaN last). Ties keep the order the trials started in.
std::vector<std::size_t> ranked(const std::vector<TpeObservation>& history) {
  auto key = [&](std::size_t i) {
    const auto& o = history[i];
    const double value = std::isnan(o.accuracy) ? kInf : -o.accuracy;
    return std::make_pair(o.pruned ? -static_cast<double>(o.epochs) : -kInf, value);
  };
  std::vector<std::size_t> order(history.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return key(i) < key(j); });
  return order;
}

// 24 candidates for one parameter from l(x), scored by log l(x) - log g(x), best first.
std::vector<std::pair<double, std::string>> scored_candidates(const RandomParameter& p, std::size_t index,
                                                              const std::vector<TpeObservation>& history,
                                                              const std::vector<std::size_t>& below,
                                                              const std::vector<std::size_t>& above,
                                                              const TpeSettings& settings, std::mt19937_64& rng) {
  std::vector<std::pair<double, std::string>> out;
  if (p.distribution == "choice") {
    auto observed = [&](const std::vector<std::size_t>& which) {
      std::vector<std::size_t> v;
      for (const auto i : which) v.push_back(choice_index(p, history[i].values[index]));
      return v;
    };
    const CategoricalParzen l(p.choices.size(), observed(below), settings.prior_weight);
    const CategoricalParzen g(p.choices.size(), observed(above), settings.prior_weight);
    for (int c = 0; c < settings.candidates; ++c) {
      const std::size_t x = l.sample(rng);
      out.emplace_back(l.log_pdf(x) - g.log_pdf(x), p.choices[x]);
    }
  } else {
    const NumericDomain d = domain_of(p);
    if (!(d.high > d.low)) return {{0.0, from_model(d, p, d.low)}};  // [x, x]: one value to take
    auto observed = [&](const std::vector<std::size_t>& which) {
      std::vector<double> v;
      for (const auto i : which) v.push_back(to_model(d, std::stod(history[i].values[index])));
      return v;
    };
    const NumericParzen l(d, observed(below), settings.prior_weight);
    const NumericParzen g(d, observed(above), settings.prior_weight);
    for (int c = 0; c < settings.candidates; ++c) {
      const double x = l.sample(rng);
      out.emplace_back(l.log_pdf(x) - g.log_pdf(x), from_model(d, p, x));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  return out;
}

std::mt19937_64 trial_rng(std::uint64_t seed, std::int64_t number) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(number),
                    static_cast<std::uint32_t>(static_cast<std::uint64_t>(number) >> 32)};
  return std::mt19937_64(seq);
}

bool is_tried(const std::vector<std::string>& point, const std::vector<std::vector<std::string>>& tried) {
  return std::find(tried.begin(), tried.end(), point) != tried.end();
}

// A random point, drawn again while it is one already tried (a small discrete space); the last
// draw when every one of them was.
std::vector<std::string> untried_random_point(const std::vector<RandomParameter>& space,
                                              const std::vector<std::vector<std::string>>& tried,
                                              std::mt19937_64& rng) {
  constexpr int kDraws = 100;
  std::vector<std::string> point;
  for (int draw = 0; draw < kDraws && (point.empty() || is_tried(point, tried)); ++draw) {
    point.clear();
    for (const auto& p : space) point.push_back(draw_random_value(p, rng));
  }
  return point;
}

}  // namespace

std::vector<std::string> tpe_suggest(const std::vector<RandomParameter>& space,
                                     const std::vector<TpeObservation>& history,
                                     const std::vector<std::vector<std::string>>& tried, const TpeSettings& settings,
                                     std::uint64_t seed, std::int64_t number) {
  std::mt19937_64 rng = trial_rng(seed, number);
  if (static_cast<std::int64_t>(history.size()) < settings.startup_trials)
    return untried_random_point(space, tried, rng);
  const auto order = ranked(history);
  const std::size_t n_below = below_count(history.size());
  std::vector<std::size_t> below(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_below));
  std::vector<std::size_t> above(order.begin() + static_cast<std::ptrdiff_t>(n_below), order.end());
  std::sort(below.begin(), below.end());  // the order trials started in: older ones weigh less
  std::sort(above.begin(), above.end());
  // Each parameter's candidates, best first; the point is each one's best, and should it have been
  // tried, the next best of the parameter whose runner-up scores closest to its best.
  std::vector<std::vector<std::pair<double, std::string>>> candidates;
  for (std::size_t i = 0; i < space.size(); ++i) {
    candidates.push_back(scored_candidates(space[i], i, history, below, above, settings, rng));
  }
  std::vector<std::size_t> at(space.size(), 0);
  auto point_at = [&] {
    std::vector<std::string> point;
    for (std::size_t i = 0; i < space.size(); ++i) point.push_back(candidates[i][at[i]].second);
    return point;
  };
  std::vector<std::string> point = point_at();
  for (int step = 0; is_tried(point, tried) && step < settings.candidates * static_cast<int>(space.size()); ++step) {
    std::size_t best = space.size();
    double smallest_loss = kInf;
    for (std::size_t i = 0; i < space.size(); ++i) {
      if (at[i] + 1 >= candidates[i].size()) continue;
      const double loss = candidates[i][at[i]].first - candidates[i][at[i] + 1].first;
      if (loss < smallest_loss) smallest_loss = loss, best = i;
    }
    if (best == space.size()) break;
    ++at[best];
    point = point_at();
  }
  return is_tried(point, tried) ? untried_random_point(space, tried, rng) : point;
}

}  // namespace trainyard
