-- Model APIs spend per UTC day and endpoint (from usage). cost_nano_usd is exact on every warehouse.
select
    day,
    endpoint_id,
    unit,
    sum(quantity) as quantity,
    sum(cost_total) as cost_usd,
    sum(cost_total_nano_usd) as cost_nano_usd
from {{ ref('stg_fal__usage') }}
group by day, endpoint_id, unit
