{#-
  Warehouse-specific SQL the analytics models need and dbt's cross-database macros do not cover. Each macro
  dispatches (https://docs.getdbt.com/reference/dbt-jinja-functions/dispatch) to a per-warehouse variant.
  Days and months are always UTC, whatever the session's time zone.
-#}

{# Exact money: DECIMAL(38,9) holds every nano-USD amount (Snowflake NUMBER(38,9), BigQuery NUMERIC). #}
{% macro money_type() %}{{ return(adapter.dispatch('money_type', 'source_fal')()) }}{% endmacro %}
{% macro default__money_type() %}decimal(38,9){% endmacro %}
{% macro postgres__money_type() %}numeric(38,9){% endmacro %}
{% macro snowflake__money_type() %}number(38,9){% endmacro %}
{% macro bigquery__money_type() %}numeric{% endmacro %}

{#
  A column of a table source-fal or Airbyte loaded, by its name in schemas/*.json, for names that must be quoted
  (FOCUS's PascalCase columns, `timestamp`). Airbyte's Snowflake destination creates upper-case column names
  (https://github.com/airbytehq/airbyte/pull/30056), so on Snowflake the quoted name is upper case; BigQuery column
  names are case-insensitive; PostgreSQL and DuckDB keep the schema's spelling.
#}
{% macro source_column(name) %}{{ return(adapter.dispatch('source_column', 'source_fal')(name)) }}{% endmacro %}
{% macro default__source_column(name) %}{{ adapter.quote(name) }}{% endmacro %}
{% macro snowflake__source_column(name) %}{{ adapter.quote(name | upper) }}{% endmacro %}

{# The UTC calendar day of a timestamp with time zone. #}
{% macro utc_date(column) %}{{ return(adapter.dispatch('utc_date', 'source_fal')(column)) }}{% endmacro %}
{% macro default__utc_date(column) %}cast(({{ column }}) at time zone 'UTC' as date){% endmacro %}
{% macro snowflake__utc_date(column) %}to_date(convert_timezone('UTC', {{ column }})){% endmacro %}
{% macro bigquery__utc_date(column) %}date({{ column }}, 'UTC'){% endmacro %}

{# The start of the UTC month of a timestamp, as a timestamp with time zone; `months` later when asked. #}
{% macro utc_month_start(column, months=0) %}{{ return(adapter.dispatch('utc_month_start', 'source_fal')(column, months)) }}{% endmacro %}
{% macro default__utc_month_start(column, months) -%}
  ((date_trunc('month', ({{ column }}) at time zone 'UTC'){% if months %} + interval '{{ months }} month'{% endif %}) at time zone 'UTC')
{%- endmacro %}
{#- The 2-argument convert_timezone reads a TIMESTAMP_NTZ in the session's time zone (Snowflake's default is
    America/Los_Angeles), so the month start is built as a TIMESTAMP_TZ in UTC from its parts instead
    (https://docs.snowflake.com/en/sql-reference/functions/convert_timezone,
    https://docs.snowflake.com/en/sql-reference/functions/timestamp_from_parts). -#}
{% macro snowflake__utc_month_start(column, months) -%}
  dateadd(month, {{ months }}, timestamp_tz_from_parts(year(convert_timezone('UTC', {{ column }})), month(convert_timezone('UTC', {{ column }})), 1, 0, 0, 0, 0, 'UTC'))
{%- endmacro %}
{% macro bigquery__utc_month_start(column, months) -%}
  timestamp(date_add(date_trunc(date({{ column }}, 'UTC'), month), interval {{ months }} month), 'UTC')
{%- endmacro %}

{# A timestamp plus whole hours (never calendar days: a day in a session time zone can have 23 or 25 hours). #}
{% macro add_hours(column, hours) %}{{ return(adapter.dispatch('add_hours', 'source_fal')(column, hours)) }}{% endmacro %}
{% macro default__add_hours(column, hours) %}{{ dbt.dateadd('hour', hours, column) }}{% endmacro %}
{% macro bigquery__add_hours(column, hours) %}timestamp_add({{ column }}, interval {{ hours }} hour){% endmacro %}

{# fal's billing unit in FOCUS UnitFormat (https://focus.finops.org/focus-specification/v1-2/#unitformat). #}
{% macro focus_unit(column) -%}
  case lower({{ column }})
    when 'image' then 'Images'
    when 'second' then 'Seconds'
    when 'minute' then 'Minutes'
    when 'hour' then 'Hours'
    when 'megapixel' then 'Megapixels'
    when 'request' then 'Requests'
    when 'video' then 'Videos'
    when 'token' then 'Tokens'
    when 'character' then 'Characters'
    else {{ column }}
  end
{%- endmacro %}

{# JSON text of a JSON column (Tags), or null. #}
{% macro json_text(column) %}{{ return(adapter.dispatch('json_text', 'source_fal')(column)) }}{% endmacro %}
{% macro default__json_text(column) %}cast({{ column }} as {{ dbt.type_string() }}){% endmacro %}
{% macro bigquery__json_text(column) %}to_json_string({{ column }}){% endmacro %}
{#- A VARIANT or OBJECT holding an object does not cast to VARCHAR; TO_JSON writes its JSON text
    (https://docs.snowflake.com/en/sql-reference/functions/to_json). -#}
{% macro snowflake__json_text(column) %}to_json({{ column }}){% endmacro %}

{#
  The rows of a bucketed stream (`relation`: a CTE with the stream's columns and `day`) with one bucket size per UTC
  day. Rows of each size (timeframe) have their own ids, so after a usage_granularity change the days the next run
  re-reads (lookback) hold both sizes and would count twice. Each size covers a day whole (windows start on bucket
  boundaries); where a day has both, the size of the newest bucket, the one fal was asked last, is kept.
#}
{% macro one_bucket_size_per_day(relation) -%}
, latest_bucket_size as (
    select timeframe as latest_timeframe from {{ relation }} order by bucket desc, timeframe desc limit 1
),

day_bucket_size as (
    select
        {{ relation }}.day,
        case
            when count(distinct {{ relation }}.timeframe) = 1 then min({{ relation }}.timeframe)
            else max(latest_bucket_size.latest_timeframe)
        end as timeframe
    from {{ relation }}
    cross join latest_bucket_size
    group by {{ relation }}.day
)

select {{ relation }}.*
from {{ relation }}
inner join day_bucket_size
    on day_bucket_size.day = {{ relation }}.day and day_bucket_size.timeframe = {{ relation }}.timeframe
{%- endmacro %}
