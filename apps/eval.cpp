// Bring-up placeholder: replaced by the real command in this session.
#include "apps/commands.h"
#include "engine/check.h"
namespace unravel::apps {
int eval_command(const EvalOptions&) { UNRAVEL_CHECK(false, "eval: not implemented yet"); return 1; }
}
