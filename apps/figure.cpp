// Bring-up placeholder: replaced by the real command in this session.
#include "apps/commands.h"
#include "engine/check.h"
namespace unravel::apps {
int figure_command(const FigureOptions&) { UNRAVEL_CHECK(false, "figure: not implemented yet"); return 1; }
std::vector<std::pair<std::string, std::string>> figure_kinds() { return {}; }
}
