// Bring-up placeholder: replaced by the real command in this session.
#include "apps/commands.h"
#include "engine/check.h"
namespace unravel::apps {
int encode_command(const EncodeOptions&) { UNRAVEL_CHECK(false, "encode: not implemented yet"); return 1; }
}
