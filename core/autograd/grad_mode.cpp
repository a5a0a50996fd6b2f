#include "core/autograd/grad_mode.h"

namespace xg {

namespace {
thread_local bool grad_mode_enabled = true;  // per thread, like PyTorch's
}

bool GradMode::is_enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

}  // namespace xg
