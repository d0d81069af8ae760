/*-------------------------------------------------------------------------
 *
 * pending.h
 *	  The pending-delta entries, shared by pending.c (the set) and apply.c
 *	  (writing them to parent rows).  Private to those two files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DENORM_PENDING_H
#define DENORM_PENDING_H

#include "denorm.h"

/* Levels of entries kept past their statement (statement levels are >= 0) */
#define LEVEL_COMMIT (-1)		/* applied when the transaction commits */
#define LEVEL_TAKEN (-2)		/* taken out inside the subtransaction */

typedef struct PendingKey
{
	SubTransactionId subxid;
	int			level;			/* executor nesting level that recorded it */
	DenormTarget *target;
	int			colidx;
	Datum		key;
} PendingKey;

typedef struct PendingEntry
{
	PendingKey	k;				/* hash key: must be first */
	bool		isnum;			/* the delta is in ndelta, not idelta */
	int64		idelta;
	Datum		ndelta;			/* numeric delta, or 0 while none */
	/*
	 * A min/max column (target->extreme[colidx]) keeps no delta but the
	 * most extreme value added (inserted rows, rows moved in, the new side
	 * of an update) and the most extreme value removed (deleted rows, rows
	 * moved out, the old side of an update), each when there is one.
	 */
	bool		has_new;
	bool		has_removed;
	Datum		best_new;
	Datum		best_removed;
} PendingEntry;

/* pending.c */
extern int	DenormComparePending(const void *a, const void *b);
extern bool DenormEntryIsZero(PendingEntry *e);
extern Datum DenormEntryNumeric(PendingEntry *e);
extern bool DenormMoreExtreme(DenormTarget *t, int colidx, Datum a, Datum b);
extern void DenormPendingMaybeReset(void);
extern Oid	DenormPendingNamespace(void);

/* apply.c */
extern void DenormApplyEntries(List *taken);
extern bool DenormInCommitApply(void);

#endif							/* DENORM_PENDING_H */
