#include "fstrm_srv.h"
