// Everything in models/nn: Module, layers and initialisers.
#pragma once
#include "models/nn/activation.h"
#include "models/nn/batchnorm.h"
#include "models/nn/conv.h"
#include "models/nn/init.h"
#include "models/nn/linear.h"
#include "models/nn/module.h"
#include "models/nn/sequential.h"
