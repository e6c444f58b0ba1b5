#include "trace/trace-hw_cosim_nvme_qemu.h"
