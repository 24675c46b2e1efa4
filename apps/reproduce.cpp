// Bring-up placeholder: replaced by the real command in this session.
#include "apps/commands.h"
#include "engine/check.h"
namespace unravel::apps {
int reproduce_command(const ReproduceOptions&) { UNRAVEL_CHECK(false, "reproduce: not implemented yet"); return 1; }
std::vector<std::pair<std::string, std::string>> reproduce_figures() { return {}; }
}
