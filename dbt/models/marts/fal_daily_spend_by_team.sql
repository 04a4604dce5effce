-- Spend per UTC day, team and product for a fal organization (org_usage → teams; organization root keys only).
select
    o.day,
    o.username as team,
    t.name as team_name,
    o.product,
    sum(o.cost_total) as cost_usd,
    sum(o.cost_total_nano_usd) as cost_nano_usd
from {{ ref('stg_fal__org_usage') }} as o
left join {{ ref('stg_fal__teams') }} as t on t.username = o.username
group by o.day, o.username, t.name, o.product
