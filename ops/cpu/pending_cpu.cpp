// TEMPORARY during bring-up: families not yet implemented. Each helper removes its entries.
#include "engine/check.h"
#include "engine/cpu/cpu_backend.h"

namespace unravel {
}  // namespace unravel
