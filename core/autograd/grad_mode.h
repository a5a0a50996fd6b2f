#pragma once
// Grad mode: whether ops record the graph. NoGradGuard turns it off for a scope (per thread),
// as `with torch.no_grad():` does; inference and optimizer updates run under it.

namespace xg {

class GradMode {
  public:
    static bool is_enabled();
    static void set_enabled(bool enabled);
};

class NoGradGuard {
  public:
    NoGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
    ~NoGradGuard() { GradMode::set_enabled(prev_); }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

  private:
    bool prev_;
};

// Re-enables grad mode inside a NoGradGuard scope (torch.enable_grad()).
class EnableGradGuard {
  public:
    EnableGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(true); }
    ~EnableGradGuard() { GradMode::set_enabled(prev_); }
    EnableGradGuard(const EnableGradGuard&) = delete;
    EnableGradGuard& operator=(const EnableGradGuard&) = delete;

  private:
    bool prev_;
};

}  // namespace xg
