{#
  Helpers of the inventory marts: lead time / service level per product (config_relation in
  analytics.sql renders the overrides) and the normal quantile behind safety stock.
#}

{#
  The standard normal quantile z = Phi^-1(p) for 0 < p < 1 (NULL outside), by Acklam's
  rational approximation (relative error below 1.2e-9: z(0.95) = 1.644854, z(0.99) = 2.326348).
  DuckDB has no inverse normal. Central region |p - 0.5| <= 0.47575, tails by symmetry.
#}
{% macro normal_quantile(p) -%}
    {%- set a = [-39.69683028665376, 220.9460984245205, -275.9285104469687,
                 138.3577518672690, -30.66479806614716, 2.506628277459239] -%}
    {%- set b = [-54.47609879822406, 161.5858368580409, -155.6989798598866,
                 66.80131188771972, -13.28068155288572] -%}
    {%- set c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838,
                 -2.549732539343734, 4.374664141464968, 2.938163982698783] -%}
    {%- set d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996,
                 3.754408661907416] -%}
    {%- set pp = '(cast(' ~ p ~ ' as double))' -%}
    {%- set r = '((' ~ pp ~ ' - 0.5) * (' ~ pp ~ ' - 0.5))' -%}
    {#- tail variable for the smaller of p and 1 - p, kept away from ln(0) -#}
    {%- set q = '(sqrt(-2 * ln(greatest(least(' ~ pp ~ ', 1 - ' ~ pp ~ '), 1e-300))))' -%}
    case
        when {{ pp }} <= 0 or {{ pp }} >= 1 or {{ pp }} is null then null
        when abs({{ pp }} - 0.5) <= 0.47575 then
            ({{ pp }} - 0.5)
            * (((((({{ a[0] }} * {{ r }} + {{ a[1] }}) * {{ r }} + {{ a[2] }}) * {{ r }} + {{ a[3] }})
                * {{ r }} + {{ a[4] }}) * {{ r }} + {{ a[5] }}))
            / (((((({{ b[0] }} * {{ r }} + {{ b[1] }}) * {{ r }} + {{ b[2] }}) * {{ r }} + {{ b[3] }})
                * {{ r }} + {{ b[4] }}) * {{ r }} + 1))
        else
            sign({{ pp }} - 0.5) * -1
            * ((((({{ c[0] }} * {{ q }} + {{ c[1] }}) * {{ q }} + {{ c[2] }}) * {{ q }} + {{ c[3] }})
                * {{ q }} + {{ c[4] }}) * {{ q }} + {{ c[5] }})
            / (((({{ d[0] }} * {{ q }} + {{ d[1] }}) * {{ q }} + {{ d[2] }}) * {{ q }} + {{ d[3] }})
                * {{ q }} + 1)
    end
{%- endmacro %}

{#
  The inventory settings of each product (lead_time_days, service_level, review_period_days):
  per setting, the product's entry in var inventory_by_product (keyed by product SKU) wins over
  its category's in var inventory_by_category (keyed by dim_products.product_type, case
  insensitive), which wins over var inventory_defaults. `products` is a relation with
  product_id and product_type. config_source names the most specific level with an entry.
#}
{% macro inventory_settings(products) -%}
    {%- set fields = [['lead_time_days', 'integer'], ['service_level', 'double'],
                      ['review_period_days', 'integer']] -%}
    {%- set defaults = var('inventory_defaults') -%}
    select
        p.product_id,
        coalesce(bp.lead_time_days, bc.lead_time_days,
            cast({{ sql_literal(defaults.get('lead_time_days')) }} as integer)) as lead_time_days,
        coalesce(bp.service_level, bc.service_level,
            cast({{ sql_literal(defaults.get('service_level')) }} as double)) as service_level,
        coalesce(bp.review_period_days, bc.review_period_days,
            cast({{ sql_literal(defaults.get('review_period_days')) }} as integer)) as review_period_days,
        case
            when bp.product_key is not null then 'product'
            when bc.product_key is not null then 'category'
            else 'default'
        end as config_source
    from {{ products }} as p
    left join ({{ config_relation(var('inventory_by_product', {}), 'product_key', fields) }}) as bp
        on upper(trim(bp.product_key)) = upper(p.product_id)
    left join ({{ config_relation(var('inventory_by_category', {}), 'product_key', fields) }}) as bc
        on lower(trim(bc.product_key)) = lower(trim(p.product_type))
{%- endmacro %}

{#
  The day the stock position of the inventory marts is read at: var analysis_date when set,
  else the latest inventory day in the warehouse (the current stock; snapshot days are UTC
  extraction days, which can be a day ahead of the latest local order day).
#}
{% macro inventory_stock_date() -%}
    {%- if var('analysis_date', none) -%}
        date '{{ var("analysis_date") }}'
    {%- else -%}
        (select max(inventory_date) from {{ ref('fct_inventory_daily') }})
    {%- endif -%}
{%- endmacro %}
