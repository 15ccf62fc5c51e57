#include "dnsmsg.h"
