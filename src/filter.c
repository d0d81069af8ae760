/*-------------------------------------------------------------------------
 *
 * filter.c
 *	  Parsing, checking and printing of counter filters.
 *
 * A filter is one boolean expression over the child's columns.  It is
 * parsed on its own (never pasted into a statement unchecked), must be
 * immutable, and is stored in a canonical, fully schema-qualified form so
 * that later parses cannot be redirected by search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "denorm.h"

#include "access/table.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/array.h"
#include "access/sysattr.h"

/* Adds "counter filter: ..." to errors raised while a filter is parsed */
static void
FilterErrorContext(void *arg)
{
	errcontext("counter filter: %s", (const char *) arg);
}

/* check_functions_in_node callback: true for a function outside pg_catalog */
static bool
NotBuiltin(Oid funcid, void *context)
{
	return get_func_namespace(funcid) != PG_CATALOG_NAMESPACE;
}

/*
 * Rejects code that is not PostgreSQL's own: functions and operators
 * outside pg_catalog, and domain checks.  Filters are evaluated by
 * whoever writes the child and by maintenance jobs (often a superuser),
 * so a function the table owner can redefine would run with their rights.
 */
static bool
CheckFilterCode(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, CoerceToDomain) ||
		check_functions_in_node(node, NotBuiltin, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a counter filter may only use built-in functions and operators"),
				 errdetail("Filters are evaluated with the rights of whoever writes the child or runs a reconcile, so they cannot run code that its owner could change.")));
	return expression_tree_walker(node, CheckFilterCode, context);
}

/* Rejects references to system columns and whole-row references */
static bool
CheckFilterVars(Node *node, Relation rel)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if (var->varattno == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("cannot use a whole-row reference in a counter filter")));
		if (var->varattno < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("cannot use system column in a counter filter")));
		return false;
	}
	return expression_tree_walker(node, CheckFilterVars, (void *) rel);
}

/* TransformFilter does the work of DenormTransformFilter */
static Node *
TransformFilter(Relation rel, const char *filter)
{
	ErrorContextCallback errcb;
	List	   *raw;
	RawStmt    *rawstmt;
	SelectStmt *select;
	ResTarget  *restarget;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *expr;

	errcb.callback = FilterErrorContext;
	errcb.arg = (void *) filter;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	/* The text must parse as a SELECT of exactly one bare expression */
	raw = raw_parser(psprintf("SELECT (%s)", filter), RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("counter filter must be a single expression")));
	rawstmt = linitial_node(RawStmt, raw);
	if (!IsA(rawstmt->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("counter filter must be a single expression")));
	select = (SelectStmt *) rawstmt->stmt;
	if (select->op != SETOP_NONE || list_length(select->targetList) != 1 ||
		select->distinctClause || select->intoClause || select->fromClause ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->valuesLists || select->sortClause ||
		select->limitOffset || select->limitCount || select->lockingClause ||
		select->withClause)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("counter filter must be a single expression")));
	restarget = linitial_node(ResTarget, select->targetList);
	if (restarget->name != NULL || restarget->indirection != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("counter filter must be a single expression")));

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = filter;
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   NULL, false, true);
	addNSItemToQuery(pstate, nsitem, true, true, true);

	/* WHERE rules: no aggregates, window functions or set-returning calls */
	expr = transformExpr(pstate, restarget->val, EXPR_KIND_WHERE);
	expr = coerce_to_boolean(pstate, expr, "counter filter");
	assign_expr_collations(pstate, expr);

	if (pstate->p_hasSubLinks)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot use subquery in a counter filter"),
				 errdetail("A filter may refer only to the columns of the counted row.")));
	if (contain_mutable_functions(expr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("functions in a counter filter must be marked IMMUTABLE"),
				 errdetail("A filter whose result can change without the row changing would make the counter drift.")));
	(void) CheckFilterVars(expr, rel);
	(void) CheckFilterCode(expr, NULL);

	free_parsestate(pstate);
	error_context_stack = errcb.previous;
	return expr;
}

/*
 * DenormTransformFilter parses filter text against rel and returns the
 * checked boolean expression, with Vars of varno 1 pointing at rel's
 * attributes.  Every rejection is an ereport naming the rule broken; an
 * error position is reported within the filter text (as for internal
 * queries), not within the statement that called us.  Callers decide the
 * search_path in force.
 */
Node *
DenormTransformFilter(Relation rel, const char *filter)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	Node	   *result = NULL;
	DenormOwnerState st;

	/*
	 * Parsing runs code: a constant is read by its type's input function,
	 * and a domain's (or an array or composite over one) runs its CHECK.
	 * The types are the child owner's to choose, so the filter is parsed
	 * with the child owner's rights, as a security-restricted operation,
	 * whoever asks: never with a writer's, a reconcile job's or the
	 * extension owner's.
	 */
	DenormBecomeOwner(RelationGetForm(rel)->relowner, DENORM_PATH_KEEP, &st);
	PG_TRY();
	{
		result = TransformFilter(rel, filter);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		SetUserIdAndSecContext(st.saved_userid, st.saved_sec_context);
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->cursorpos <= 0)
			PG_RE_THROW();
		FlushErrorState();
		/* positions count from the "SELECT (" we put in front */
		edata->internalpos = Max(edata->cursorpos - (int) strlen("SELECT ("), 1);
		edata->internalquery = pstrdup(filter);
		edata->cursorpos = 0;
		ReThrowError(edata);
	}
	PG_END_TRY();
	DenormRevertOwner(&st);
	return result;
}

/*
 * DenormDeparseFilter prints a checked filter in canonical form, with every
 * name outside pg_catalog schema-qualified (the caller sets a safe
 * search_path first).
 */
char *
DenormDeparseFilter(Relation rel, Node *expr)
{
	List	   *context;

	context = deparse_context_for(RelationGetRelationName(rel),
								  RelationGetRelid(rel));
	return deparse_expression(expr, context, false, false);
}

PG_FUNCTION_INFO_V1(denorm_normalize_filter);

/*
 * denorm_normalize_filter(child regclass, filter text) returns text
 *
 * Checks filter against the child table, resolving names with the caller's
 * search_path, and returns its canonical form.  Used by
 * denorm_create_counter before anything is recorded.
 */
Datum
denorm_normalize_filter(PG_FUNCTION_ARGS)
{
	Oid			child = PG_GETARG_OID(0);
	char	   *filter = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Relation	rel;
	Node	   *expr;
	char	   *result;
	int			nestlevel;

	rel = try_table_open(child, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", child)));
	expr = DenormTransformFilter(rel, filter);

	nestlevel = DenormSetSafeSearchPath();
	result = DenormDeparseFilter(rel, expr);
	DenormRestoreSearchPath(nestlevel);

	table_close(rel, AccessShareLock);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * DenormSafeFilter returns a counter's stored filter as it may enter a
 * statement ("true" for none): parsed again against the child with the
 * rules of creation and printed from the checked expression, so whatever
 * the stored text holds, what reaches SQL is one checked expression.
 */
char *
DenormSafeFilter(Oid child, const char *filter)
{
	Relation	rel;
	Node	   *expr;
	char	   *result;
	int			nestlevel;

	if (filter == NULL || filter[0] == '\0')
		return "true";
	rel = table_open(child, AccessShareLock);
	nestlevel = DenormSetSafeSearchPath();
	expr = DenormTransformFilter(rel, filter);
	result = DenormDeparseFilter(rel, expr);
	DenormRestoreSearchPath(nestlevel);
	table_close(rel, AccessShareLock);
	return result;
}

PG_FUNCTION_INFO_V1(denorm_filter_columns);

/*
 * denorm_filter_columns(child regclass, filter text) returns name[]
 *
 * The columns of the child a stored filter reads, parsed with the rules
 * of creation (under a safe search_path).  Used to find counters that
 * would feed themselves: a filter reading a column denorm maintains.
 */
Datum
denorm_filter_columns(PG_FUNCTION_ARGS)
{
	Oid			child = PG_GETARG_OID(0);
	char	   *filter = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Relation	rel;
	Node	   *expr;
	Bitmapset  *attnos = NULL;
	int			attno = -1;
	List	   *names = NIL;
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;
	int			nestlevel;

	rel = try_table_open(child, AccessShareLock);
	if (rel == NULL)
		PG_RETURN_NULL();
	nestlevel = DenormSetSafeSearchPath();
	expr = DenormTransformFilter(rel, filter);
	DenormRestoreSearchPath(nestlevel);
	pull_varattnos(expr, 1, &attnos);
	while ((attno = bms_next_member(attnos, attno)) >= 0)
	{
		AttrNumber	a = attno + FirstLowInvalidHeapAttributeNumber;

		if (a > 0)
			names = lappend(names, NameStr(TupleDescAttr(RelationGetDescr(rel), a - 1)->attname));
	}
	elems = palloc(sizeof(Datum) * Max(list_length(names), 1));
	foreach(lc, names)
		elems[i++] = DirectFunctionCall1(namein, CStringGetDatum((char *) lfirst(lc)));
	table_close(rel, AccessShareLock);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, i, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
}
