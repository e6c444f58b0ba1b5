/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NVM Express 1.0e definitions used by the cosim-nvme model.
 *
 * Written from the NVMe 1.0e specification.  Only what the model needs is
 * here; names follow the spec's field names so code reads like the spec.
 * Structures are little-endian on the wire; the core only builds on
 * little-endian hosts (checked below), so they are used in place.
 */
#ifndef COSIM_NVME_SPEC_H
#define COSIM_NVME_SPEC_H

#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cosim-nvme core assumes a little-endian host"
#endif

/* ---- Controller registers (section 3.1) ---- */
enum {
	NVME_REG_CAP	= 0x00,	/* 64-bit */
	NVME_REG_VS	= 0x08,
	NVME_REG_INTMS	= 0x0c,
	NVME_REG_INTMC	= 0x10,
	NVME_REG_CC	= 0x14,
	NVME_REG_CSTS	= 0x1c,
	NVME_REG_AQA	= 0x24,
	NVME_REG_ASQ	= 0x28,	/* 64-bit */
	NVME_REG_ACQ	= 0x30,	/* 64-bit */
	NVME_REG_DBS	= 0x1000,
};

#define NVME_VS_1_0		0x00010000u
#define NVME_VS_1_1		0x00010100u
#define NVME_VS_1_2		0x00010200u

/* CAP */
#define NVME_CAP_MQES_SHIFT	0
#define NVME_CAP_CQR		(1ull << 16)
#define NVME_CAP_AMS_SHIFT	17
#define NVME_CAP_AMS_WRR	(1ull << 17)	/* weighted round robin with urgent */
#define NVME_CAP_TO_SHIFT	24
#define NVME_CAP_DSTRD_SHIFT	32
#define NVME_CAP_CSS_NVM	(1ull << 37)
#define NVME_CAP_MPSMIN_SHIFT	48
#define NVME_CAP_MPSMAX_SHIFT	52

/* CC */
#define NVME_CC_EN		(1u << 0)
#define NVME_CC_CSS(cc)		(((cc) >> 4) & 0x7)
#define NVME_CC_MPS(cc)		(((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc)		(((cc) >> 11) & 0x7)
#define NVME_CC_AMS_RR		0
#define NVME_CC_AMS_WRR		1
#define NVME_CC_SHN(cc)		(((cc) >> 14) & 0x3)
#define NVME_CC_IOSQES(cc)	(((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc)	(((cc) >> 20) & 0xf)
#define NVME_CC_WRITABLE	0x00fffff1u

/* CSTS */
#define NVME_CSTS_RDY		(1u << 0)
#define NVME_CSTS_CFS		(1u << 1)
#define NVME_CSTS_SHST_SHIFT	2
#define NVME_CSTS_SHST_MASK	(3u << 2)
#define NVME_SHST_NORMAL	0
#define NVME_SHST_OCCURRING	1
#define NVME_SHST_COMPLETE	2

/* AQA */
#define NVME_AQA_ASQS(aqa)	((aqa) & 0xfff)
#define NVME_AQA_ACQS(aqa)	(((aqa) >> 16) & 0xfff)
#define NVME_AQA_WRITABLE	0x0fff0fffu

/* ---- Queue entries (section 4) ---- */
struct nvme_sqe {
	uint8_t		opcode;
	uint8_t		flags;		/* FUSE bits 1:0 */
	uint16_t	cid;
	uint32_t	nsid;
	uint32_t	cdw2;
	uint32_t	cdw3;
	uint64_t	mptr;
	uint64_t	prp1;
	uint64_t	prp2;
	uint32_t	cdw10;
	uint32_t	cdw11;
	uint32_t	cdw12;
	uint32_t	cdw13;
	uint32_t	cdw14;
	uint32_t	cdw15;
};

struct nvme_cqe {
	uint32_t	dw0;
	uint32_t	rsvd;
	uint16_t	sq_head;
	uint16_t	sq_id;
	uint16_t	cid;
	uint16_t	status;		/* bit 0 = phase tag, 15:1 = status field */
};

_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");

#define NVME_SQES_LOG2		6
#define NVME_CQES_LOG2		4
#define NVME_FUSE_MASK		0x03

/*
 * Status field as carried in CQE.status bits 15:1: SC in 7:0, SCT in 10:8,
 * M in 13, DNR in 14.
 */
#define NVME_SCT(sct)		((uint16_t)((sct) << 8))
#define NVME_MORE		0x2000
#define NVME_DNR		0x4000
#define NVME_STATUS_SCT(s)	(((s) >> 8) & 0x7)
#define NVME_STATUS_SC(s)	((s) & 0xff)

enum nvme_status {
	/* generic command status (SCT 0) */
	NVME_SC_SUCCESS			= 0x00,
	NVME_SC_INVALID_OPCODE		= 0x01,
	NVME_SC_INVALID_FIELD		= 0x02,
	NVME_SC_CMDID_CONFLICT		= 0x03,
	NVME_SC_DATA_XFER_ERROR		= 0x04,
	NVME_SC_POWER_LOSS		= 0x05,
	NVME_SC_INTERNAL		= 0x06,
	NVME_SC_ABORT_REQ		= 0x07,
	NVME_SC_ABORT_QUEUE		= 0x08,
	NVME_SC_FUSED_FAIL		= 0x09,
	NVME_SC_FUSED_MISSING		= 0x0a,
	NVME_SC_INVALID_NS		= 0x0b,
	NVME_SC_CMD_SEQ_ERROR		= 0x0c,
	NVME_SC_LBA_RANGE		= 0x80,
	NVME_SC_CAP_EXCEEDED		= 0x81,
	NVME_SC_NS_NOT_READY		= 0x82,

	/* command specific status (SCT 1) */
	NVME_SC_CQ_INVALID		= 0x100,
	NVME_SC_QID_INVALID		= 0x101,
	NVME_SC_QUEUE_SIZE		= 0x102,
	NVME_SC_ABORT_LIMIT		= 0x103,
	NVME_SC_ABORT_MISSING		= 0x104,
	NVME_SC_ASYNC_LIMIT		= 0x105,
	NVME_SC_FIRMWARE_SLOT		= 0x106,
	NVME_SC_FIRMWARE_IMAGE		= 0x107,
	NVME_SC_INVALID_VECTOR		= 0x108,
	NVME_SC_INVALID_LOG_PAGE	= 0x109,
	NVME_SC_INVALID_FORMAT		= 0x10a,
	NVME_SC_QUEUE_DELETION		= 0x10c,
	NVME_SC_FEATURE_NOT_SAVEABLE	= 0x10d,
	NVME_SC_CONFLICTING_ATTRS	= 0x180,
	NVME_SC_INVALID_PI		= 0x181,
	NVME_SC_READ_ONLY		= 0x182,

	/* media errors (SCT 2) */
	NVME_SC_WRITE_FAULT		= 0x280,
	NVME_SC_READ_ERROR		= 0x281,
	NVME_SC_COMPARE_FAILED		= 0x285,
};

/* ---- Admin command set (section 5) ---- */
enum nvme_admin_opcode {
	NVME_ADM_DELETE_SQ	= 0x00,
	NVME_ADM_CREATE_SQ	= 0x01,
	NVME_ADM_GET_LOG_PAGE	= 0x02,
	NVME_ADM_DELETE_CQ	= 0x04,
	NVME_ADM_CREATE_CQ	= 0x05,
	NVME_ADM_IDENTIFY	= 0x06,
	NVME_ADM_ABORT		= 0x08,
	NVME_ADM_SET_FEATURES	= 0x09,
	NVME_ADM_GET_FEATURES	= 0x0a,
	NVME_ADM_ASYNC_EVENT	= 0x0c,
	NVME_ADM_FW_ACTIVATE	= 0x10,
	NVME_ADM_FW_DOWNLOAD	= 0x11,
	NVME_ADM_FORMAT_NVM	= 0x80,
	NVME_ADM_SECURITY_SEND	= 0x81,
	NVME_ADM_SECURITY_RECV	= 0x82,
};

/* Identify Controller OACS */
#define NVME_OACS_FORMAT	(1u << 1)
#define NVME_OACS_FW		(1u << 2)
/* Format NVM CDW10 */
#define NVME_FORMAT_LBAF(dw10)	((dw10) & 0xf)
#define NVME_FORMAT_MS		(1u << 4)
#define NVME_FORMAT_PI(dw10)	(((dw10) >> 5) & 0x7)
#define NVME_FORMAT_PIL		(1u << 8)
#define NVME_FORMAT_SES(dw10)	(((dw10) >> 9) & 0x7)
#define NVME_NSID_ALL		0xffffffffu
/* Firmware Activate CDW10 */
#define NVME_FW_FS(dw10)	((dw10) & 0x7)
#define NVME_FW_AA(dw10)	(((dw10) >> 3) & 0x3)
#define NVME_FW_AA_REPLACE		0
#define NVME_FW_AA_REPLACE_ACTIVATE	1
#define NVME_FW_AA_ACTIVATE		2

/* Create I/O queue CDW11 */
#define NVME_QUEUE_PC		(1u << 0)
#define NVME_CQ_IEN		(1u << 1)
#define NVME_SQ_QPRIO(dw11)	(((dw11) >> 1) & 0x3)

/* Create I/O SQ QPRIO, the class under weighted round robin */
enum nvme_sq_prio {
	NVME_SQ_PRIO_URGENT	= 0,
	NVME_SQ_PRIO_HIGH	= 1,
	NVME_SQ_PRIO_MEDIUM	= 2,
	NVME_SQ_PRIO_LOW	= 3,
};

/* Set Features 01h Arbitration: AB 2:0, LPW 15:8, MPW 23:16, HPW 31:24 */
#define NVME_ARB_AB(v)		((v) & 0x7)
#define NVME_ARB_AB_NO_LIMIT	7
#define NVME_ARB_LPW(v)		(((v) >> 8) & 0xff)
#define NVME_ARB_MPW(v)		(((v) >> 16) & 0xff)
#define NVME_ARB_HPW(v)		(((v) >> 24) & 0xff)

/* Identify CNS values (1.0e defines only bit 0) */
#define NVME_ID_CNS_NS		0x00
#define NVME_ID_CNS_CTRL	0x01
#define NVME_ID_CNS_NS_LIST	0x02	/* NVMe 1.1: active namespace ids */

/* Feature identifiers */
enum nvme_feature_id {
	NVME_FEAT_ARBITRATION	= 0x01,
	NVME_FEAT_POWER_MGMT	= 0x02,
	NVME_FEAT_LBA_RANGE	= 0x03,
	NVME_FEAT_TEMP_THRESH	= 0x04,
	NVME_FEAT_ERR_RECOVERY	= 0x05,
	NVME_FEAT_VOLATILE_WC	= 0x06,
	NVME_FEAT_NUM_QUEUES	= 0x07,
	NVME_FEAT_IRQ_COALESCE	= 0x08,
	NVME_FEAT_IRQ_CONFIG	= 0x09,
	NVME_FEAT_WRITE_ATOMIC	= 0x0a,
	NVME_FEAT_ASYNC_EVENT	= 0x0b,
	NVME_FEAT_SW_PROGRESS	= 0x80,
	NVME_FEAT_MAX		= 0x81,
};
#define NVME_FEAT_SAVE		(1u << 31)
/* Interrupt Vector Configuration: CD, Coalescing Disable */
#define NVME_FEAT_IRQ_CD	(1u << 16)
/* LBA Range Type entry (figure 94) */
struct nvme_lba_range_type {
	uint8_t		type;
	uint8_t		attributes;
	uint8_t		rsvd2[14];
	uint64_t	slba;
	uint64_t	nlb;		/* 0-based */
	uint8_t		guid[16];
	uint8_t		rsvd48[16];
};
_Static_assert(sizeof(struct nvme_lba_range_type) == 64, "LBA range type entry is 64 bytes");
#define NVME_LBART_MAX		64
#define NVME_LBART_TYPE_GP	0x00
#define NVME_LBART_ATTR_OVERWRITE	0x01
/* SMART critical warning bits and SMART/health AEN information */
#define NVME_SMART_CRIT_TEMP	(1u << 1)
#define NVME_AER_SMART_TEMP	0x01

/* Log page identifiers */
enum nvme_log_id {
	NVME_LOG_ERROR		= 0x01,
	NVME_LOG_SMART		= 0x02,
	NVME_LOG_FW_SLOT	= 0x03,
	NVME_LOG_CHANGED_NS	= 0x04,	/* NVMe 1.2, with the Notice event below */
};

/* NVMe 1.2 Namespace Attribute Notices: OAES bit, AEC bit, Notice info */
#define NVME_OAES_NS_ATTR	(1u << 8)
#define NVME_AEC_NS_ATTR	(1u << 8)
#define NVME_AER_NOTICE_NS_CHANGED	0x00
#define NVME_CHANGED_NS_MAX	1024

/* Asynchronous event types and the CQE dword 0 layout */
enum nvme_aer_type {
	NVME_AER_TYPE_ERROR	= 0,
	NVME_AER_TYPE_SMART	= 1,
	NVME_AER_TYPE_NOTICE	= 2,
	NVME_AER_TYPE_IO	= 6,
	NVME_AER_TYPE_VENDOR	= 7,
};
/* Error status information (type 0) */
#define NVME_AER_ERR_INVALID_SQ		0x00	/* doorbell of a missing queue */
#define NVME_AER_ERR_INVALID_DB		0x01	/* doorbell value out of range */

#define NVME_AER_DW0(type, info, lid) \
	((uint32_t)(type) | ((uint32_t)(info) << 8) | ((uint32_t)(lid) << 16))

/* ---- NVM command set (section 6) ---- */
enum nvme_io_opcode {
	NVME_CMD_FLUSH		= 0x00,
	NVME_CMD_WRITE		= 0x01,
	NVME_CMD_READ		= 0x02,
	NVME_CMD_WRITE_UNCOR	= 0x04,
	NVME_CMD_COMPARE	= 0x05,
	NVME_CMD_DSM		= 0x09,
};
/* Identify Controller ONCS (1.0e) */
#define NVME_ONCS_COMPARE	(1u << 0)
#define NVME_ONCS_WRITE_UNCOR	(1u << 1)
#define NVME_ONCS_DSM		(1u << 2)
/* Dataset Management: CDW10 NR (0-based) in 7:0, CDW11 attributes */
#define NVME_DSM_IDR		(1u << 0)
#define NVME_DSM_IDW		(1u << 1)
#define NVME_DSM_AD		(1u << 2)
#define NVME_DSM_MAX_RANGES	256
struct nvme_dsm_range {
	uint32_t	cattr;
	uint32_t	nlb;
	uint64_t	slba;
};
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");
#define NVME_RW_FUA		(1u << 30)
#define NVME_RW_LR		(1u << 31)

/* ---- Identify data structures (figures 66, 67) ---- */
struct nvme_id_power_state {
	uint16_t	mp;		/* centiwatts */
	uint8_t		rsvd2;
	uint8_t		flags;
	uint32_t	enlat;
	uint32_t	exlat;
	uint8_t		rrt;
	uint8_t		rrl;
	uint8_t		rwt;
	uint8_t		rwl;
	uint8_t		rsvd16[16];
};

struct nvme_id_ctrl {
	uint16_t	vid;
	uint16_t	ssvid;
	char		sn[20];
	char		mn[40];
	char		fr[8];
	uint8_t		rab;
	uint8_t		ieee[3];
	uint8_t		cmic;
	uint8_t		mdts;
	uint16_t	cntlid;		/* NVMe 1.1 */
	uint32_t	ver;		/* NVMe 1.2 */
	uint8_t		rsvd84[8];
	uint32_t	oaes;		/* NVMe 1.2; reserved in 1.0e */
	uint8_t		rsvd96[160];
	uint16_t	oacs;
	uint8_t		acl;
	uint8_t		aerl;
	uint8_t		frmw;
	uint8_t		lpa;
	uint8_t		elpe;
	uint8_t		npss;
	uint8_t		avscc;
	uint8_t		rsvd265[247];
	uint8_t		sqes;
	uint8_t		cqes;
	uint8_t		rsvd514[2];
	uint32_t	nn;
	uint16_t	oncs;
	uint16_t	fuses;
	uint8_t		fna;
	uint8_t		vwc;
	uint16_t	awun;
	uint16_t	awupf;
	uint8_t		nvscc;
	uint8_t		rsvd531[1517];
	struct nvme_id_power_state psd[32];
	uint8_t		vs[1024];
};

struct nvme_lbaf {
	uint16_t	ms;
	uint8_t		lbads;
	uint8_t		rp;
};

struct nvme_id_ns {
	uint64_t	nsze;
	uint64_t	ncap;
	uint64_t	nuse;
	uint8_t		nsfeat;
	uint8_t		nlbaf;
	uint8_t		flbas;
	uint8_t		mc;
	uint8_t		dpc;
	uint8_t		dps;
	uint8_t		rsvd30[98];
	struct nvme_lbaf lbaf[16];
	uint8_t		rsvd192[192];
	uint8_t		vs[3712];
};

_Static_assert(sizeof(struct nvme_id_ctrl) == 4096, "Identify Controller is 4 KiB");
_Static_assert(sizeof(struct nvme_id_ns) == 4096, "Identify Namespace is 4 KiB");

/* ---- Log pages (section 5.10.1) ---- */
struct nvme_smart_log {
	uint8_t		critical_warning;
	uint8_t		temperature[2];	/* Kelvin, unaligned */
	uint8_t		avail_spare;
	uint8_t		spare_thresh;
	uint8_t		percent_used;
	uint8_t		rsvd6[26];
	uint64_t	data_units_read[2];
	uint64_t	data_units_written[2];
	uint64_t	host_reads[2];
	uint64_t	host_writes[2];
	uint64_t	ctrl_busy_time[2];
	uint64_t	power_cycles[2];
	uint64_t	power_on_hours[2];
	uint64_t	unsafe_shutdowns[2];
	uint64_t	media_errors[2];
	uint64_t	num_err_log_entries[2];
	uint8_t		rsvd192[320];
};

struct nvme_fw_slot_log {
	uint8_t		afi;
	uint8_t		rsvd1[7];
	char		frs[7][8];
	uint8_t		rsvd64[448];
};

struct nvme_error_log_entry {
	uint64_t	error_count;
	uint16_t	sqid;
	uint16_t	cid;
	uint16_t	status;
	uint16_t	param_error_location;
	uint64_t	lba;
	uint32_t	nsid;
	uint8_t		vs;
	uint8_t		rsvd29[35];
};

_Static_assert(sizeof(struct nvme_smart_log) == 512, "SMART log is 512 bytes");
_Static_assert(sizeof(struct nvme_fw_slot_log) == 512, "FW slot log is 512 bytes");
_Static_assert(sizeof(struct nvme_error_log_entry) == 64, "error log entry is 64 bytes");

#endif /* COSIM_NVME_SPEC_H */
