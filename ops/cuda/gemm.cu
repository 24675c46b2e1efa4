#include "engine/cuda/cuda_backend.h"
