/*-------------------------------------------------------------------------
 *
 * keylock.c
 *	  Locks on parent keys, so that a parent row taking a key and a child
 *	  writer finding that key without a parent row never miss each other.
 *
 * A parent row inserted (or given a new key) starts with what the existing
 * children of its key add up to (parent.c).  A child writer whose relative
 * UPDATE finds no parent row for a key (apply.c) drops that key's delta:
 * there is no row to hold it, and a row that takes the key later will count
 * the child itself.  The two miss each other when each runs while the
 * other's transaction is in progress: the parent's read does not see the
 * uncommitted child, the child's UPDATE does not see the uncommitted parent.
 *
 * So both sides lock the key, in conflicting modes, before they look:
 *  - the parent side (a row taking key k) takes SHARE on k, then reads the
 *    children with a snapshot taken after the lock was granted;
 *  - the child side (a delta for key k found no parent row) takes
 *    EXCLUSIVE on k, then looks for the parent row again with a snapshot
 *    taken after the lock was granted, and applies the delta if it is there
 *    now.
 * Whichever locks first, the other waits for its commit and then sees its
 * rows.  Parent inserters never wait for each other (SHARE is compatible
 * with SHARE), and child writers whose parents exist never take these
 * locks at all: with a foreign key they never do.
 *
 * Keys are locked by hash, per parent table, with advisory lock tags of
 * their own (field4 DENORM_LOCK_KEY), so they cannot collide with the
 * application's pg_advisory_lock keys.  A transaction that takes many keys
 * of one parent (a bulk load) would fill the lock table, so after
 * DENORM_KEYLOCKS_MAX keys of one parent and side it locks all the keys of
 * the parent at once instead, with one tag per side (field4
 * DENORM_LOCK_PARENTS for the parent side's, DENORM_LOCK_CHILDREN for the
 * child side's); every key lock of one side also takes the other side's
 * whole-parent tag in a mode that conflicts with it:
 *
 *                  key lock   parent side's tag   child side's tag
 *   parent side    SHARE      SHARE (all keys)    ROW EXCLUSIVE
 *   child side     EXCLUSIVE  ROW EXCLUSIVE       SHARE (all keys)
 *
 * So a whole-parent lock of one side waits for every key lock of the other
 * side and none of its own, locks of one side never wait for each other
 * (but child-side locks of one key), and escalating never upgrades a lock
 * others of the same side hold.  Keys are locked in ascending hash order.
 * The locks are held to the end of the transaction, as row locks are.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define DENORM_LOCK_KEY 0x444b	/* field4 of a key lock */
#define DENORM_LOCK_PARENTS 0x4450	/* field4 of the parent side's whole-parent lock */
#define DENORM_LOCK_CHILDREN 0x4443 /* field4 of the child side's whole-parent lock */

/* keys of one parent and side a transaction locks before it locks them all */
#define DENORM_KEYLOCKS_MAX 64

/* how many key locks this transaction took, per parent and side */
typedef struct KeyLockCount
{
	Oid			parentrel;
	bool		parent_side;
	int			n;
	struct KeyLockCount *next;
} KeyLockCount;

static KeyLockCount *Counts = NULL;
static LocalTransactionId CountsLxid = InvalidLocalTransactionId;

static KeyLockCount *
CountFor(Oid parentrel, bool parent_side)
{
	KeyLockCount *c;

	/* counts are per transaction: start over in a new one */
	if (CountsLxid != MyProc->lxid)
	{
		while (Counts != NULL)
		{
			c = Counts->next;
			pfree(Counts);
			Counts = c;
		}
		CountsLxid = MyProc->lxid;
	}
	for (c = Counts; c != NULL; c = c->next)
		if (c->parentrel == parentrel && c->parent_side == parent_side)
			return c;
	c = MemoryContextAllocZero(TopMemoryContext, sizeof(KeyLockCount));
	c->parentrel = parentrel;
	c->parent_side = parent_side;
	c->next = Counts;
	Counts = c;
	return c;
}

static void
Lock(Oid parentrel, uint32 hash, uint16 what, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, parentrel, hash, what);
	(void) LockAcquire(&tag, mode, false, false);
}

/*
 * DenormKeyLockHash gives the hash a key is locked by, from the side that
 * holds it as a value of valuetype (in collation valuecoll) while the other
 * side holds it as othertype (in othercoll): the value's own hash when the
 * two types hash alike (one hash operator family, such as the integer
 * types or the string types, whose members give equal hashes for equal
 * values) and both collations are deterministic, so that both sides find
 * the same lock for equal keys; otherwise 0, which locks every key of the
 * parent as one.
 */
uint32
DenormKeyLockHash(Oid valuetype, Oid valuecoll, Oid othertype, Oid othercoll, Datum value)
{
	TypeCacheEntry *vt;
	TypeCacheEntry *ot;

	if (!OidIsValid(valuetype) || !OidIsValid(othertype))
		return 0;
	vt = lookup_type_cache(valuetype, TYPECACHE_HASH_OPFAMILY | TYPECACHE_HASH_PROC);
	ot = lookup_type_cache(othertype, TYPECACHE_HASH_OPFAMILY);
	if (!OidIsValid(vt->hash_opf) || vt->hash_opf != ot->hash_opf ||
		!OidIsValid(vt->hash_proc) ||
		(OidIsValid(valuecoll) && !get_collation_isdeterministic(valuecoll)) ||
		(OidIsValid(othercoll) && !get_collation_isdeterministic(othercoll)))
		return 0;
	return DatumGetUInt32(OidFunctionCall1Coll(vt->hash_proc, valuecoll, value));
}

/*
 * DenormLockKey takes the lock of one key of a parent table, for the parent
 * side (a row taking the key) or the child side (a delta that found no row
 * for it), until the end of the transaction.
 */
void
DenormLockKey(Oid parentrel, uint32 hash, bool parent_side)
{
	KeyLockCount *c = CountFor(parentrel, parent_side);

	if (c->n >= DENORM_KEYLOCKS_MAX)
	{
		Lock(parentrel, 0, parent_side ? DENORM_LOCK_PARENTS : DENORM_LOCK_CHILDREN, ShareLock);
		return;
	}
	Lock(parentrel, 0, parent_side ? DENORM_LOCK_CHILDREN : DENORM_LOCK_PARENTS, RowExclusiveLock);
	Lock(parentrel, hash, DENORM_LOCK_KEY, parent_side ? ShareLock : ExclusiveLock);
	c->n++;
}
