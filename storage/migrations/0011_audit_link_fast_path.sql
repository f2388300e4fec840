-- credvault schema, version 11: the audit append takes the chain head's lock without a
-- write first. Version 8 began every append with an INSERT ... ON CONFLICT DO NOTHING of
-- the head row, a speculative insertion on every event; now the insert happens only for
-- an org's first event. What is appended, and how it is hashed, is unchanged.
CREATE OR REPLACE FUNCTION credvault_audit_link(p_org text, p_time timestamptz, p_principal text,
                                                p_action text, p_target text, p_result text,
                                                p_request_id text, p_details text)
  RETURNS audit_events
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_time timestamptz := date_trunc('microseconds', p_time);
  v_role text := session_user::text;
  v_prev bytea;
  v_seq bigint;
  v_hash bytea;
  v_event public.audit_events;
BEGIN
  IF p_org IS NULL OR p_org = '' THEN
    RAISE EXCEPTION 'audit event needs an org' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_time IS NULL OR p_principal IS NULL OR p_action IS NULL OR p_target IS NULL
     OR p_result IS NULL OR p_request_id IS NULL OR p_details IS NULL
     OR p_principal = '' OR p_action = '' OR p_result = '' THEN
    RAISE EXCEPTION 'audit event fields missing' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF greatest(octet_length(p_principal), octet_length(p_action), octet_length(p_target),
              octet_length(p_result), octet_length(p_request_id), octet_length(p_details)) > 4096
  THEN
    RAISE EXCEPTION 'audit event field too long' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('credvault.org_id', p_org, true);
  PERFORM 1 FROM public.audit_heads WHERE org_id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO public.audit_heads (org_id, seq, hash)
    VALUES (p_org, 0, public.credvault_audit_genesis_v2(p_org))
    ON CONFLICT (org_id) DO NOTHING;
    PERFORM 1 FROM public.audit_heads WHERE org_id = p_org FOR UPDATE;
  END IF;
  -- The last stored event, not the head row, decides seq and prev (see version 8).
  SELECT e.seq, e.hash INTO v_seq, v_prev
    FROM public.audit_events e WHERE e.org_id = p_org ORDER BY e.seq DESC LIMIT 1;
  IF v_seq IS NULL THEN
    SELECT c.seq, c.head_hash INTO v_seq, v_prev
      FROM public.audit_checkpoints c WHERE c.org_id = p_org ORDER BY c.seq DESC LIMIT 1;
    IF v_seq IS NULL THEN
      v_seq := 0;
      v_prev := public.credvault_audit_genesis_v2(p_org);
    END IF;
  END IF;
  v_seq := v_seq + 1;
  v_hash := sha256(
    '\x00000018'::bytea || convert_to('credvault.audit.event.v2', 'UTF8') || v_prev
    || public.credvault_enc(p_org) || int8send(v_seq)
    || int8send((extract(epoch FROM v_time) * 1000000)::bigint)
    || public.credvault_enc(p_principal) || public.credvault_enc(p_action)
    || public.credvault_enc(p_target) || public.credvault_enc(p_result)
    || public.credvault_enc(p_request_id) || public.credvault_enc(p_details)
    || public.credvault_enc(v_role));
  INSERT INTO public.audit_events (org_id, seq, event_time, principal, action, target, result,
                                   request_id, details, prev_hash, hash, chain_format,
                                   appended_by)
  VALUES (p_org, v_seq, v_time, p_principal, p_action, p_target, p_result, p_request_id,
          p_details, v_prev, v_hash, 2, v_role)
  RETURNING * INTO v_event;
  UPDATE public.audit_heads SET seq = v_seq, hash = v_hash WHERE org_id = p_org;
  RETURN v_event;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_audit_link(text, timestamptz, text, text, text, text, text, text)
  FROM PUBLIC;
