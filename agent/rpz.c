#include "rpz.h"
