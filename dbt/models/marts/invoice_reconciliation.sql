{#-
  invoice_reconciliation: fal's pre-invoice estimates against what fal invoiced, per charge month (fal bills in
  arrears: the invoice issued in February bills January, and its FOCUS lines carry January as BillingPeriodStart).
  One row per charge month × ChargeCategory × ServiceName:
  - Usage rows set the estimate (focus_costs, i.e. usage / serverless_usage / org_usage, and for Model APIs also the
    per-request billing_events) beside the invoice's Usage lines of the same ServiceName, with the difference in USD
    and percent. A month with no invoice line yet is `pending`.
  - Tax, Credit and other invoice lines are rows of their own, with no estimate: they have none.
  - status: pending (no invoice for the month yet), matched, differs, estimate incomplete (the month began before
    the first usage synced, so the estimate cannot cover it), invoice only (Tax, Credit, …).
  Details and the status values: docs/focus.md.
-#}
{{ config(materialized='view') }}

with estimates as (
    select
        {{ adapter.quote('BillingPeriodStart') }} as charge_month,
        {{ adapter.quote('ServiceName') }} as service_name,
        sum({{ adapter.quote('BilledCost') }}) as estimated_usd
    from {{ ref('focus_costs') }}
    group by 1, 2
),

events as (
    select
        {{ source_fal.utc_month_start(source_fal.source_column('timestamp')) }} as charge_month,
        'fal Model APIs' as service_name,
        sum(cost_total) as billing_events_usd
    from {{ source('fal', 'billing_events') }}
    group by 1
),

invoice_lines as (
    select
        {{ source_fal.source_column('BillingPeriodStart') }} as charge_month,
        coalesce({{ source_fal.source_column('ChargeCategory') }}, 'Usage') as charge_category,
        case
            when coalesce({{ source_fal.source_column('ChargeCategory') }}, 'Usage') = 'Usage'
                then coalesce({{ source_fal.source_column('ServiceName') }}, '(none)')
            else coalesce({{ source_fal.source_column('ServiceName') }}, '(all services)')
        end as service_name,
        {{ source_fal.source_column('InvoiceId') }} as invoice_id,
        {{ source_fal.source_column('BilledCost') }} as billed_usd
    from {{ source('fal', 'invoices') }}
),

invoiced as (
    select
        charge_month,
        charge_category,
        service_name,
        min(invoice_id) as invoice_id,
        sum(billed_usd) as invoiced_usd
    from invoice_lines
    group by 1, 2, 3
),

invoiced_months as (
    select distinct charge_month from invoice_lines
),

history as (
    select min({{ adapter.quote('ChargePeriodStart') }}) as first_synced from {{ ref('focus_costs') }}
),

usage_rows as (
    select
        coalesce(e.charge_month, i.charge_month) as charge_month,
        'Usage' as charge_category,
        coalesce(e.service_name, i.service_name) as service_name,
        e.estimated_usd,
        i.invoice_id,
        i.invoiced_usd
    from estimates as e
    full outer join (select * from invoiced where charge_category = 'Usage') as i
        on e.charge_month = i.charge_month and e.service_name = i.service_name
),

other_rows as (
    select
        charge_month,
        charge_category,
        service_name,
        cast(null as {{ source_fal.money_type() }}) as estimated_usd,
        invoice_id,
        invoiced_usd
    from invoiced
    where charge_category <> 'Usage'
)

select
    {{ source_fal.utc_date('r.charge_month') }} as charge_month,
    r.charge_category,
    r.service_name,
    cast(r.estimated_usd as {{ source_fal.money_type() }}) as estimated_usd,
    cast(ev.billing_events_usd as {{ source_fal.money_type() }}) as billing_events_usd,
    r.invoice_id,
    cast(r.invoiced_usd as {{ source_fal.money_type() }}) as invoiced_usd,
    case
        when r.charge_category = 'Usage' and m.charge_month is not null
            then cast(coalesce(r.invoiced_usd, 0) - coalesce(r.estimated_usd, 0) as {{ source_fal.money_type() }})
    end as difference_usd,
    case
        when r.charge_category = 'Usage' and m.charge_month is not null and coalesce(r.estimated_usd, 0) <> 0
            then cast(
                100 * (coalesce(r.invoiced_usd, 0) - r.estimated_usd) / r.estimated_usd as {{ dbt.type_numeric() }}
            )
    end as difference_pct,
    case
        when m.charge_month is null then 'pending'
        when r.charge_category <> 'Usage' then 'invoice only'
        -- The month began before the first synced usage: the estimate cannot cover all of it.
        when h.first_synced is null or r.charge_month < h.first_synced then 'estimate incomplete'
        when coalesce(r.invoiced_usd, 0) = coalesce(r.estimated_usd, 0) then 'matched'
        else 'differs'
    end as status
from (select * from usage_rows union all select * from other_rows) as r
cross join history as h
left join invoiced_months as m on m.charge_month = r.charge_month
left join events as ev
    on ev.charge_month = r.charge_month and ev.service_name = r.service_name and r.charge_category = 'Usage'
