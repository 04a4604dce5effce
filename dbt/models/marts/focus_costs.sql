{#-
  focus_costs: fal's usage as FOCUS 1.2 CostAndUsage rows (https://focus.finops.org/focus-specification/v1-2/),
  one row per row of `usage` (Model APIs) and `serverless_usage`, and of `org_usage` for organization keys (the
  team is the sub account). Where `org_usage` has rows for a bucket, it covers every team of the organization, so
  that bucket's `usage` and `serverless_usage` rows (the root team's own) are left out rather than counted twice.
  Every row is a pre-invoice estimate: no InvoiceId. Mapping choices: docs/focus.md.
  sync creates this as a view in the schema it loads; dbt users build it from the same file.
-#}
{{ config(materialized='view') }}

with org_buckets as (
    select distinct bucket from {{ source('fal', 'org_usage') }}
),

lines as (
    select
        'usage' as fal_stream,
        u.id as fal_row_id,
        'model_apis' as product,
        u.bucket,
        u.timeframe,
        u.endpoint_id as sku_id,
        u.endpoint_id,
        u.unit,
        u.quantity,
        u.unit_price,
        u.percent_discount,
        cast(null as {{ source_fal.money_type() }}) as net_unit_price,
        u.cost_total,
        u.cost_total_nano_usd,
        u.currency,
        cast(null as {{ dbt.type_string() }}) as team,
        u.auth_method,
        u.api_key_id,
        u.login_username,
        cast(null as {{ dbt.type_string() }}) as app,
        cast(null as {{ dbt.type_string() }}) as environment,
        false as is_surge
    from {{ source('fal', 'usage') }} as u
    where u.bucket not in (select bucket from org_buckets)

    union all

    select
        'serverless_usage' as fal_stream,
        s.id as fal_row_id,
        'serverless' as product,
        s.bucket,
        s.timeframe,
        s.machine_type as sku_id,
        cast(null as {{ dbt.type_string() }}) as endpoint_id,
        s.unit,
        s.quantity,
        s.unit_price,
        s.percent_discount,
        s.net_unit_price,
        s.cost_total,
        s.cost_total_nano_usd,
        s.currency,
        cast(null as {{ dbt.type_string() }}) as team,
        cast(null as {{ dbt.type_string() }}) as auth_method,
        cast(null as {{ dbt.type_string() }}) as api_key_id,
        cast(null as {{ dbt.type_string() }}) as login_username,
        s.app,
        s.environment,
        s.is_surge
    from {{ source('fal', 'serverless_usage') }} as s
    where s.bucket not in (select bucket from org_buckets)

    union all

    select
        'org_usage' as fal_stream,
        o.id as fal_row_id,
        o.product,
        o.bucket,
        o.timeframe,
        o.endpoint_id as sku_id,
        case when o.product = 'model_apis' then o.endpoint_id end as endpoint_id,
        o.unit,
        o.quantity,
        o.unit_price,
        o.percent_discount,
        cast(null as {{ source_fal.money_type() }}) as net_unit_price,
        o.cost_total,
        o.cost_total_nano_usd,
        o.currency,
        o.username as team,
        o.auth_method,
        o.api_key_id,
        o.login_username,
        cast(null as {{ dbt.type_string() }}) as app,
        cast(null as {{ dbt.type_string() }}) as environment,
        false as is_surge
    from {{ source('fal', 'org_usage') }} as o
),

-- After a usage_granularity change the re-read days hold both day and hour buckets of the same usage; per stream
-- and UTC day only one bucket size counts: the only one, or where a day has both, that of the stream's newest bucket.
sized as (
    select
        lines.*,
        {{ source_fal.utc_date('bucket') }} as charge_day,
        first_value(timeframe) over (
            partition by fal_stream order by bucket desc, timeframe desc
            rows between unbounded preceding and unbounded following
        ) as latest_timeframe
    from lines
),

day_sizes as (
    select fal_stream, charge_day, count(distinct timeframe) as sizes from sized group by fal_stream, charge_day
),

kept as (
    select sized.*
    from sized
    inner join day_sizes on day_sizes.fal_stream = sized.fal_stream and day_sizes.charge_day = sized.charge_day
    where day_sizes.sizes = 1 or sized.timeframe = sized.latest_timeframe
),

priced as (
    select
        kept.*,
        -- The negotiated price: fal's net unit price where it sends one, else the list price less the discount.
        cast(
            coalesce(
                net_unit_price,
                unit_price * cast(100 - coalesce(percent_discount, 0) as {{ source_fal.money_type() }}) * 0.01
            ) as {{ source_fal.money_type() }}
        ) as contracted_unit_price,
        case
            when timeframe = 'hour' then {{ source_fal.add_hours('bucket', 1) }}
            else {{ source_fal.add_hours('bucket', 24) }}
        end as bucket_end
    from kept
)

select
    cast(cost_total as {{ source_fal.money_type() }}) as {{ adapter.quote('BilledCost') }},
    {{ dbt.string_literal(var('source_fal_account')) }} as {{ adapter.quote('BillingAccountId') }},
    {{ dbt.string_literal(var('source_fal_account')) }} as {{ adapter.quote('BillingAccountName') }},
    currency as {{ adapter.quote('BillingCurrency') }},
    {{ source_fal.utc_month_start('bucket', 1) }} as {{ adapter.quote('BillingPeriodEnd') }},
    {{ source_fal.utc_month_start('bucket') }} as {{ adapter.quote('BillingPeriodStart') }},
    'Usage' as {{ adapter.quote('ChargeCategory') }},
    cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('ChargeClass') }},
    {{ dbt.concat([
        "case product when 'model_apis' then 'Model API ' when 'serverless' then 'Serverless machine time on ' else 'Compute instance time on ' end",
        "sku_id",
        "', per '",
        "unit",
        "case when coalesce(percent_discount, 0) <> 0 then ' (discounted)' else '' end"
    ]) }} as {{ adapter.quote('ChargeDescription') }},
    'Usage-Based' as {{ adapter.quote('ChargeFrequency') }},
    bucket_end as {{ adapter.quote('ChargePeriodEnd') }},
    bucket as {{ adapter.quote('ChargePeriodStart') }},
    cast(quantity as {{ source_fal.money_type() }}) as {{ adapter.quote('ConsumedQuantity') }},
    {{ source_fal.focus_unit('unit') }} as {{ adapter.quote('ConsumedUnit') }},
    cast(contracted_unit_price * quantity as {{ source_fal.money_type() }}) as {{ adapter.quote('ContractedCost') }},
    contracted_unit_price as {{ adapter.quote('ContractedUnitPrice') }},
    cast(cost_total as {{ source_fal.money_type() }}) as {{ adapter.quote('EffectiveCost') }},
    cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('InvoiceId') }},
    'fal' as {{ adapter.quote('InvoiceIssuerName') }},
    cast(unit_price * quantity as {{ source_fal.money_type() }}) as {{ adapter.quote('ListCost') }},
    cast(unit_price as {{ source_fal.money_type() }}) as {{ adapter.quote('ListUnitPrice') }},
    case when is_surge then 'Dynamic' else 'Standard' end as {{ adapter.quote('PricingCategory') }},
    cast(quantity as {{ source_fal.money_type() }}) as {{ adapter.quote('PricingQuantity') }},
    {{ source_fal.focus_unit('unit') }} as {{ adapter.quote('PricingUnit') }},
    'fal' as {{ adapter.quote('ProviderName') }},
    'fal' as {{ adapter.quote('PublisherName') }},
    case when product = 'compute' then 'Compute' else 'AI and Machine Learning' end as {{ adapter.quote('ServiceCategory') }},
    case product when 'model_apis' then 'fal Model APIs' when 'serverless' then 'fal Serverless' else 'fal Compute' end
        as {{ adapter.quote('ServiceName') }},
    case product when 'model_apis' then 'Generative AI' when 'serverless' then 'AI Platforms' else 'Virtual Machines' end
        as {{ adapter.quote('ServiceSubcategory') }},
    sku_id as {{ adapter.quote('SkuId') }},
    case product when 'model_apis' then 'Model inference' when 'serverless' then 'Machine time' else 'Instance time' end
        as {{ adapter.quote('SkuMeter') }},
    cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('SkuPriceDetails') }},
    {{ dbt.concat(["sku_id", "'|'", "unit", "'|'", "cast(cast(unit_price as " ~ source_fal.money_type() ~ ") as " ~ dbt.type_string() ~ ")"]) }}
        as {{ adapter.quote('SkuPriceId') }},
    team as {{ adapter.quote('SubAccountId') }},
    team as {{ adapter.quote('SubAccountName') }},
    cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Tags') }},
    fal_stream as {{ adapter.quote('x_FalStream') }},
    fal_row_id as {{ adapter.quote('x_FalRowId') }},
    cost_total_nano_usd as {{ adapter.quote('x_BilledCostNanoUsd') }},
    endpoint_id as {{ adapter.quote('x_EndpointId') }},
    auth_method as {{ adapter.quote('x_AuthMethod') }},
    api_key_id as {{ adapter.quote('x_ApiKeyId') }},
    login_username as {{ adapter.quote('x_LoginUsername') }},
    cast(percent_discount as {{ source_fal.money_type() }}) as {{ adapter.quote('x_PercentDiscount') }},
    app as {{ adapter.quote('x_App') }},
    environment as {{ adapter.quote('x_Environment') }},
    is_surge as {{ adapter.quote('x_IsSurge') }}
from priced
