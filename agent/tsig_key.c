#include "tsig_key.h"
