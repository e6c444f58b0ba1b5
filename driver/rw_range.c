// SPDX-License-Identifier: GPL-2.0
/*
 * VERIFY (10/12/16) and WRITE SAME (10/16): commands over a range of
 * blocks that NVMe 1.0 has no single command for. They run from the
 * translation work item as NVMe Reads, Compares, Writes (in max-transfer
 * pieces, all through one driver buffer) or one Dataset Management.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <asm/unaligned.h>
#include <scsi/scsi_common.h>
#include <scsi/scsi_device.h>

#include "xlat.h"

/* MAXIMUM WRITE SAME LENGTH (VPD B0): 1 GiB, written in max-transfer pieces. */
u32 nvme_scsi_max_write_same(const struct nvme_scsi_ns *ns)
{
	return SZ_1G >> ns->lba_shift;
}

/*
 * WRITE SAME with UNMAP and a zero block deallocates (Dataset Management)
 * only where a read of a deallocated block returns zeroes, as the block
 * written would: the namespace says so in DLFEAT (NVMe 1.3; reserved, so 0,
 * on a 1.0 controller, which then gets the zeroes written). VPD B2 LBPWS.
 */
bool nvme_scsi_ws_unmap(struct nvme_scsi_ctrl *ctrl, const struct nvme_scsi_ns *ns)
{
	return nvme_scsi_has_dsm(ctrl) && ns->dealloc_zeroes;
}

/* One NVMe IO command (Read, Write, Compare) of @nlb blocks at @lba on buffer @b. */
static int nvme_scsi_range_io(struct nvme_scsi_ctrl *ctrl, const struct nvme_scsi_ns *ns,
			      u8 opcode, struct nvme_scsi_buf *b, u64 lba, u32 nlb)
{
	struct nvme_command c = { };
	int ret;

	ret = nvme_scsi_buf_map(ctrl, b, nlb << ns->lba_shift, &c);
	if (ret)
		return ret;
	c.rw.opcode = opcode;
	c.rw.nsid = cpu_to_le32(ns->nsid);
	c.rw.slba = cpu_to_le64(lba);
	c.rw.length = cpu_to_le16(nlb - 1);
	return nvme_scsi_deferred_cmd(ctrl, true, &c, nvme_scsi_io_timeout * HZ);
}

/* A driver buffer for pieces of up to @bytes (at most the max transfer). */
static int nvme_scsi_range_buf(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_buf *b,
			       u64 bytes)
{
	struct nvme_command c = { };

	return nvme_scsi_buf_alloc(ctrl, b, min_t(u64, bytes, ctrl->max_xfer), &c);
}

/* Fill @len bytes of @dst with copies of the @bs-byte block @pattern. */
static void nvme_scsi_fill(u8 *dst, const u8 *pattern, u32 bs, u32 len)
{
	u32 off;

	for (off = 0; off < len; off += bs)
		memcpy(dst + off, pattern, bs);
}

static u32 nvme_scsi_first_diff(const u8 *a, const u8 *b, u32 len)
{
	u32 i;

	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	return i;
}

/* MISCOMPARE DURING VERIFY OPERATION; @info: the offset of the first unequal byte, if known. */
static void nvme_scsi_miscompare(struct scsi_cmnd *cmd, bool valid, u32 info)
{
	nvme_scsi_check(cmd, MISCOMPARE, 0x1d, 0x00);
	if (valid)
		scsi_set_sense_information(cmd->sense_buffer, SCSI_SENSE_BUFFERSIZE, info);
}

/*
 * Compare one piece of @nlb blocks at @lba with @exp: NVMe Compare if the
 * controller has it, else a Read and memcmp. A miscompare is reported with
 * the offset of the first unequal byte (@base: offset of the piece in the
 * Data-Out Buffer; after a failed Compare a Read finds it). Returns 0 if
 * equal, else the SCSI result is set.
 */
static int nvme_scsi_compare_piece(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				   const struct nvme_scsi_ns *ns, struct nvme_scsi_buf *b,
				   const u8 *exp, u64 lba, u32 nlb, bool info, u32 base)
{
	u32 len = nlb << ns->lba_shift, diff;
	int ret;

	if (ctrl->oncs & NVME_CTRL_ONCS_COMPARE) {
		memcpy(b->cpu, exp, len);
		ret = nvme_scsi_range_io(ctrl, ns, nvme_cmd_compare, b, lba, nlb);
		if (ret <= 0 || NVME_SCSI_STATUS_CODE(ret) != NVME_SC_COMPARE_FAILED) {
			nvme_scsi_deferred_status(cmd, ret);
			return ret;
		}
	}
	ret = nvme_scsi_range_io(ctrl, ns, nvme_cmd_read, b, lba, nlb);
	if (ret) {
		if (ctrl->oncs & NVME_CTRL_ONCS_COMPARE)
			nvme_scsi_miscompare(cmd, false, 0);	/* offset unknown */
		else
			nvme_scsi_deferred_status(cmd, ret);
		return -EIO;
	}
	diff = nvme_scsi_first_diff(b->cpu, exp, len);
	if (diff == len) {
		if (!(ctrl->oncs & NVME_CTRL_ONCS_COMPARE))
			return 0;
		diff = 0;		/* changed since the Compare */
		info = false;
	}
	nvme_scsi_miscompare(cmd, info, base + diff);
	return -EIO;
}

/*
 * VERIFY(10/12/16). BYTCHK 00b: the medium is read (NVMe 1.0 has no
 * Verify) into a driver buffer, only a read error is reported. 01b: the
 * Data-Out Buffer is compared with the medium; 11b: its one block with
 * every block of the range. In max-transfer pieces.
 */
void nvme_scsi_verify(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
		      const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	u8 bytchk = (cdb[1] >> 1) & 0x3;
	u32 bs = 1U << ns->lba_shift, nlb, piece, done = 0, out;
	struct nvme_scsi_buf b;
	u8 *exp = NULL;
	u64 lba;
	int ret = 0;

	switch (cdb[0]) {
	case VERIFY:
		lba = get_unaligned_be32(&cdb[2]);
		nlb = get_unaligned_be16(&cdb[7]);
		break;
	case VERIFY_12:
		lba = get_unaligned_be32(&cdb[2]);
		nlb = get_unaligned_be32(&cdb[6]);
		break;
	default:
		lba = get_unaligned_be64(&cdb[2]);
		nlb = get_unaligned_be32(&cdb[10]);
		break;
	}
	/* VRPROTECT: no protection information; BYTCHK 10b is reserved */
	if ((cdb[1] & 0xe0) || bytchk == 2) {
		nvme_scsi_invalid_field(cmd);
		return;
	}
	if (!nvme_scsi_range_ok(ctrl, cmd, ns, lba, nlb))
		return;
	cmd->result = 0;
	if (!nlb)
		return;
	/* the Data-Out Buffer: every block (01b) or one (11b) */
	out = 0;
	if (bytchk == 1) {
		if ((u64)nlb << ns->lba_shift > ctrl->max_xfer) {
			nvme_scsi_invalid_field(cmd);
			return;
		}
		out = nlb << ns->lba_shift;
	} else if (bytchk == 3) {
		out = bs;
	}
	if (out > scsi_bufflen(cmd)) {
		nvme_scsi_invalid_field(cmd);
		return;
	}

	ret = nvme_scsi_range_buf(ctrl, &b, (u64)nlb << ns->lba_shift);
	if (ret) {
		nvme_scsi_deferred_status(cmd, ret);
		return;
	}
	piece = b.alloc >> ns->lba_shift;
	if (bytchk) {
		exp = kvmalloc(b.alloc, GFP_KERNEL);
		if (!exp) {
			cmd->result = DID_REQUEUE << 16;
			goto out;
		}
		if (bytchk == 3) {
			scsi_sg_copy_to_buffer(cmd, exp, bs);
			nvme_scsi_fill(exp + bs, exp, bs, b.alloc - bs);
		}
	}
	while (done < nlb) {
		u32 n = min(nlb - done, piece);

		if (bytchk == 1)
			sg_pcopy_to_buffer(scsi_sglist(cmd), scsi_sg_count(cmd), exp,
					   n << ns->lba_shift, (size_t)done << ns->lba_shift);
		if (!bytchk) {
			ret = nvme_scsi_range_io(ctrl, ns, nvme_cmd_read, &b, lba + done, n);
			if (!nvme_scsi_deferred_status(cmd, ret))
				goto out;
		} else if (nvme_scsi_compare_piece(ctrl, cmd, ns, &b, exp, lba + done, n,
						   bytchk == 1, done << ns->lba_shift)) {
			goto out;
		}
		done += n;
	}
	cmd->result = 0;
	scsi_set_resid(cmd, scsi_bufflen(cmd) - out);
out:
	kvfree(exp);
	nvme_scsi_buf_free(ctrl, &b);
}

/* WRITE SAME with UNMAP of zeroes: one Dataset Management range, deallocate. */
static void nvme_scsi_ws_dsm(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			     const struct nvme_scsi_ns *ns, u64 lba, u32 nlb)
{
	struct nvme_dsm_range range = {
		.nlb = cpu_to_le32(nlb),
		.slba = cpu_to_le64(lba),
	};
	struct nvme_command c = { };
	int ret;

	c.dsm.opcode = nvme_cmd_dsm;
	c.dsm.nsid = cpu_to_le32(ns->nsid);
	c.dsm.nr = 0;
	c.dsm.attributes = cpu_to_le32(NVME_DSMGMT_AD);
	ret = nvme_scsi_deferred_exec(ctrl, true, &c, &range, sizeof(range), true,
				      nvme_scsi_io_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
}

/*
 * WRITE SAME(10/16): the Data-Out Buffer's one block (zeroes with NDOB)
 * written to every block of the range, from a driver buffer holding it
 * repeated, in max-transfer pieces. With UNMAP, a zero block is
 * deallocated instead where deallocated blocks read as zeroes. No blocks
 * ("to the end") is refused, as VPD B0 WSNZ says; ANCHOR is refused.
 */
void nvme_scsi_write_same(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			  const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	bool ws16 = cdb[0] == WRITE_SAME_16;
	bool unmap = cdb[1] & 0x08, ndob = ws16 && (cdb[1] & 0x01);
	u32 bs = 1U << ns->lba_shift, nlb, piece, done = 0;
	struct nvme_scsi_buf b;
	u8 *pattern;
	u64 lba;
	int ret;

	if (ws16) {
		lba = get_unaligned_be64(&cdb[2]);
		nlb = get_unaligned_be32(&cdb[10]);
	} else {
		lba = get_unaligned_be32(&cdb[2]);
		nlb = get_unaligned_be16(&cdb[7]);
	}
	/* WRPROTECT (no protection information), ANCHOR, PBDATA/LBDATA (obsolete) */
	if ((cdb[1] & (ws16 ? 0xf6 : 0xf7)) || !nlb) {
		nvme_scsi_invalid_field(cmd);
		return;
	}
	if (!nvme_scsi_range_ok(ctrl, cmd, ns, lba, nlb))
		return;
	if (nlb > nvme_scsi_max_write_same(ns) || (!ndob && scsi_bufflen(cmd) < bs)) {
		nvme_scsi_invalid_field(cmd);
		return;
	}
	pattern = kzalloc(bs, GFP_KERNEL);
	if (!pattern) {
		cmd->result = DID_REQUEUE << 16;
		return;
	}
	if (!ndob)
		scsi_sg_copy_to_buffer(cmd, pattern, bs);

	if (unmap && !memchr_inv(pattern, 0, bs) && nvme_scsi_ws_unmap(ctrl, ns)) {
		nvme_scsi_ws_dsm(ctrl, cmd, ns, lba, nlb);
		goto out;
	}
	ret = nvme_scsi_range_buf(ctrl, &b, (u64)nlb << ns->lba_shift);
	if (ret) {
		nvme_scsi_deferred_status(cmd, ret);
		goto out;
	}
	nvme_scsi_fill(b.cpu, pattern, bs, b.alloc);
	piece = b.alloc >> ns->lba_shift;
	while (done < nlb) {
		u32 n = min(nlb - done, piece);

		ret = nvme_scsi_range_io(ctrl, ns, nvme_cmd_write, &b, lba + done, n);
		if (ret)
			break;
		done += n;
	}
	nvme_scsi_deferred_status(cmd, ret);
	nvme_scsi_buf_free(ctrl, &b);
out:
	if (!cmd->result)
		scsi_set_resid(cmd, scsi_bufflen(cmd) - (ndob ? 0 : bs));
	kfree(pattern);
}
