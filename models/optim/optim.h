// Everything in models/optim: optimisers (and their by-name registry), gradient clipping,
// learning-rate schedules.
#pragma once
#include "models/optim/adam.h"
#include "models/optim/clip_grad.h"
#include "models/optim/lr_schedule.h"
#include "models/optim/optimizer.h"
#include "models/optim/registry.h"
#include "models/optim/sgd.h"
