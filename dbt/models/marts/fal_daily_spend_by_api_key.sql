-- Model APIs spend per UTC day and API key, with the key's alias (usage.api_key_id → api_keys.key_id). Web-UI usage
-- has no key: it shows under its auth method (e.g. "User token") with a null api_key_id.
select
    u.day,
    u.api_key_id,
    coalesce(k.alias, u.auth_method) as key_name,
    sum(u.cost_total) as cost_usd,
    sum(u.cost_total_nano_usd) as cost_nano_usd
from {{ ref('stg_fal__usage') }} as u
left join {{ ref('stg_fal__api_keys') }} as k on k.key_id = u.api_key_id
group by u.day, u.api_key_id, coalesce(k.alias, u.auth_method)
