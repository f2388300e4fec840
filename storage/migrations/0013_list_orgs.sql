-- credvault schema, version 13: the org listing (AdminService.ListOrgs).
--
-- Row-level security keeps every read inside the org the transaction is scoped to, so the
-- work that visits every org walks the org directory (ids only, version 4) and reads each
-- org in a transaction of its own. A listing of orgs with their state would take one such
-- transaction per org; this function makes the same reads in a single call.

-- Admin role: up to p_limit orgs whose id sorts after p_after (byte order; '' from the
-- start), each with its state, creation and destruction times (microseconds since the
-- Unix epoch) and its ACTIVE key version (0 when it has none, i.e. once DESTROYED). It runs
-- with the caller's rights: for each org id of the directory it scopes the transaction to
-- that org, then reads the org's row and key versions as any read of the caller's role
-- would (row-level security and column grants apply). It puts the caller's own scope
-- back before it returns. (A SET clause on the function would restore it too, but only a
-- superuser may attach one for a parameter that is not a built-in one.)
CREATE FUNCTION credvault_list_orgs(p_after text, p_limit integer)
  RETURNS TABLE (org_id text, state text, created_micros bigint, destroyed_micros bigint,
                 current_key_version integer)
  LANGUAGE plpgsql
  SECURITY INVOKER
  SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v_caller_scope text := coalesce(current_setting('credvault.org_id', true), '');
  v_org text;
BEGIN
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
    RAISE EXCEPTION 'an org listing page is 1 to 1000 orgs'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR v_org IN
    SELECT d.org_id FROM public.org_directory d
     WHERE d.org_id > coalesce(p_after, '')
     ORDER BY d.org_id
     LIMIT p_limit
  LOOP
    PERFORM set_config('credvault.org_id', v_org, true);
    RETURN QUERY
    SELECT o.org_id::text, o.state::text,
           (extract(epoch FROM o.created_at) * 1000000)::bigint,
           (extract(epoch FROM o.destroyed_at) * 1000000)::bigint,
           coalesce((SELECT k.version FROM public.org_keys k
                      WHERE k.org_id = o.org_id AND k.state = 'ACTIVE'), 0)
      FROM public.orgs o
     WHERE o.org_id = v_org;
  END LOOP;
  PERFORM set_config('credvault.org_id', v_caller_scope, true);
END
$fn$;
REVOKE ALL ON FUNCTION credvault_list_orgs(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_list_orgs(text, integer) TO {{admin}};
