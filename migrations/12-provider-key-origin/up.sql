-- A provider key is bound to the origin (scheme, host, port) it was stored for: the origin is part of
-- the key's associated data, so a key opens only for that endpoint. NULL for a key stored before
-- this version; start-up binds those to the endpoint the provider had then.
ALTER TABLE provider_api_keys ADD COLUMN origin TEXT;
